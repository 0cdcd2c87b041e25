package layers

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// gemmParts is how many row bands a large product is split into. It is a
// constant, not the number of CPUs, so that results never depend on the
// machine: each element of C is computed whole by one band.
const gemmParts = 2

// gemm sets c = alpha * op(a) @ b, splitting c's rows into bands computed
// concurrently. gonum runs small products serially; ours are mostly small
// in one dimension (20 or 10 columns), so this is where two cores pay.
func gemm(transA bool, alpha float32, a, b, c blas32.General) {
	if c.Rows*c.Cols*b.Rows < 1<<18 || c.Rows < 2*gemmParts {
		gemmBand(transA, alpha, a, b, c, 0, c.Rows)
		return
	}
	var wg sync.WaitGroup
	step := (c.Rows + gemmParts - 1) / gemmParts
	for r0 := 0; r0 < c.Rows; r0 += step {
		wg.Add(1)
		go func(r0, r1 int) {
			defer wg.Done()
			gemmBand(transA, alpha, a, b, c, r0, r1)
		}(r0, min(r0+step, c.Rows))
	}
	wg.Wait()
}

func gemmBand(transA bool, alpha float32, a, b, c blas32.General, r0, r1 int) {
	t := blas.NoTrans
	if transA {
		t = blas.Trans
		a = blas32.General{Rows: a.Rows, Cols: r1 - r0, Stride: a.Stride, Data: a.Data[r0:]}
	} else {
		a = blas32.General{Rows: r1 - r0, Cols: a.Cols, Stride: a.Stride, Data: a.Data[r0*a.Stride:]}
	}
	c = blas32.General{Rows: r1 - r0, Cols: c.Cols, Stride: c.Stride, Data: c.Data[r0*c.Stride:]}
	blas32.Gemm(t, blas.NoTrans, alpha, a, b, 0, c)
}
