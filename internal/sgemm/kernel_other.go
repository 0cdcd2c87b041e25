//go:build !amd64 || purego

package sgemm

// useAsm is false: rowsGo does the arithmetic.
const useAsm, useAsm512 = false, false

func rowsAsm512(a *operand, r0, r1, n, k int, alpha float32, b []float32, ldb int, c []float32, ldc int) {
	panic("sgemm: no assembly kernels in this build")
}

func rowsAsm(a *operand, r0, r1, n, k int, alpha float32, b []float32, ldb int, c []float32, ldc int) {
	panic("sgemm: no assembly kernels in this build")
}
