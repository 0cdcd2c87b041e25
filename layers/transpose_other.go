//go:build !amd64 || purego

package layers

const vectorTranspose = false

func transposeVector(t, w []float32, rows, cols, r0, r1 int) (ri, cj int) { return 0, 0 }
