// Package sgemm multiplies float32 matrices with a fixed order of
// operations: every element of the product is accumulated over k in
// ascending order, each step rounded to float32 as
//
//	c += float32(float32(alpha*a[i][l]) * b[l][j])
//
// which is exactly what gonum's pure-Go blas32.Gemm computes with beta 0
// (its Sgemm scales an element of a by alpha, multiplies it into a row of b
// and adds, row by row of b). The results are therefore the same, bit for
// bit, as gonum's, on every machine and for any number of goroutines: the
// device products of analogmac and the host gradients of layers depend on
// it (training runs are reproducible to the last bit, and were so before
// this package existed).
//
// What differs is speed: on amd64 with AVX2, assembly kernels compute
// 4 x 16 blocks of c in registers, with a and b read in place (no packing,
// no transposes) and uint8 inputs converted on the fly; elsewhere, and with
// the build tag purego, plain Go does the same arithmetic.
//
// One difference with gonum is deliberate and harmless: gonum skips a term
// whose scaled a is zero, the kernels add it. Adding +-0 changes nothing
// unless b holds an infinity or NaN, where both are meaningless anyway.
package sgemm
