//go:build !amd64 || purego

package layers

func im2colImageVector[T float32 | uint8](g Geometry, out, img, pad []T) bool { return false }

func vectorIm2colFits(g Geometry) bool { return false }
