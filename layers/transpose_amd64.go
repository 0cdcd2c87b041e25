//go:build amd64 && !purego

package layers

import "github.com/analogloop/analogloop/internal/x86"

// vectorTranspose: transposeVector does whole tiles.
var vectorTranspose = x86.AVX512

//go:noescape
func transpose512(t, w *float32, ldt, ldw, m, n int)

// transposeVector transposes the whole 16 x 16 tiles of rows [r0, r1) of
// the rows x cols matrix w into t with AVX-512 and returns how far they
// reach: rows [r0, r0+ri), columns [0, cj). The caller does the rest.
func transposeVector(t, w []float32, rows, cols, r0, r1 int) (ri, cj int) {
	ri, cj = (r1-r0)&^15, cols&^15
	if !x86.AVX512 || ri <= 0 || cj == 0 {
		return 0, 0
	}
	// The last element either side that the kernel touches.
	_ = w[(r0+ri-1)*cols+cj-1]
	_ = t[(cj-1)*rows+r0+ri-1]
	transpose512(&t[r0], &w[r0*cols], 4*rows, 4*cols, ri, cj)
	return ri, cj
}
