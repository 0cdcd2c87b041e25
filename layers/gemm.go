package layers

import (
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/analogloop/analogloop/internal/sgemm"
)

// gemm sets c = alpha * op(a) @ b. sgemm computes exactly gonum's Gemm
// (each element accumulated in order, each step rounded as in gonum), so
// gradients and float-mode products are the same numbers as before it
// replaced blas32.Gemm; it splits large products by rows over the par pool.
func gemm(transA bool, alpha float32, a, b, c blas32.General) {
	sgemm.Mul(transA, c.Rows, c.Cols, b.Rows, alpha, a.Data, a.Stride, b.Data, b.Stride, c.Data, c.Stride)
}
