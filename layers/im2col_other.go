//go:build !amd64 || purego

package layers

func im2colImageVector[T float32 | uint8](g Geometry, out, img, pad []T) bool { return false }

// vectorIm2col: im2colImageVector cuts images of bytes.
const vectorIm2col = false
