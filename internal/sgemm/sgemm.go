package sgemm

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/analogloop/analogloop/internal/par"
)

// Mul sets c = alpha * a * b, or with transA c = alpha * aᵀ * b. c is m x n
// (row stride ldc), b is k x n (row stride ldb), a is m x k (row stride
// lda) or with transA k x m (row stride lda). Large products are split by
// rows of c over the par pool; each element is computed whole by one
// goroutine, so the split never shows in the result.
func Mul(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	op := f32Operand(transA, m, k, a, lda)
	run(&op, m, n, k, alpha, b, ldb, c, ldc, true)
}

// MulSerial is Mul on the calling goroutine only.
func MulSerial(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	op := f32Operand(transA, m, k, a, lda)
	run(&op, m, n, k, alpha, b, ldb, c, ldc, false)
}

// MulU8 sets c = a * b for a uint8 matrix a (m x k, row stride lda): the
// same numbers as Mul on float32(a) with alpha 1, without converting a
// first.
func MulU8(m, n, k int, a []uint8, lda int, b []float32, ldb int, c []float32, ldc int) {
	op := u8Operand(false, m, k, a, lda)
	run(&op, m, n, k, 1, b, ldb, c, ldc, true)
}

// MulU8T sets c = alpha * aᵀ * b for a uint8 matrix a (k x m, row stride
// lda): the same numbers as Mul with transA on float32(a).
func MulU8T(m, n, k int, alpha float32, a []uint8, lda int, b []float32, ldb int, c []float32, ldc int) {
	op := u8Operand(true, m, k, a, lda)
	run(&op, m, n, k, alpha, b, ldb, c, ldc, true)
}

// MulU8Serial is MulU8 on the calling goroutine only.
func MulU8Serial(m, n, k int, a []uint8, lda int, b []float32, ldb int, c []float32, ldc int) {
	op := u8Operand(false, m, k, a, lda)
	run(&op, m, n, k, 1, b, ldb, c, ldc, false)
}

// operand is op(a) as the kernels walk it: row i of op(a) starts at
// base + i*rs bytes, and its l-th element is ls bytes after the (l-1)-th.
type operand struct {
	f32    []float32
	u8     []uint8
	trans  bool
	lda    int
	rs, ls uintptr
}

func f32Operand(trans bool, m, k int, a []float32, lda int) operand {
	rows, cols := m, k
	if trans {
		rows, cols = k, m
	}
	checkMatrix("a", len(a), rows, cols, lda)
	if trans {
		return operand{f32: a, trans: true, lda: lda, rs: 4, ls: uintptr(lda) * 4}
	}
	return operand{f32: a, lda: lda, rs: uintptr(lda) * 4, ls: 4}
}

func u8Operand(trans bool, m, k int, a []uint8, lda int) operand {
	if trans {
		checkMatrix("a", len(a), k, m, lda)
		return operand{u8: a, trans: true, lda: lda, rs: 1, ls: uintptr(lda)}
	}
	checkMatrix("a", len(a), m, k, lda)
	return operand{u8: a, lda: lda, rs: uintptr(lda), ls: 1}
}

func checkMatrix(name string, n, rows, cols, stride int) {
	if rows < 0 || cols < 0 || stride < max(1, cols) {
		panic(fmt.Sprintf("sgemm: %s: %dx%d with stride %d", name, rows, cols, stride))
	}
	if rows > 0 && cols > 0 && n < (rows-1)*stride+cols {
		panic(fmt.Sprintf("sgemm: %s: %d values for %dx%d with stride %d", name, n, rows, cols, stride))
	}
}

func (o *operand) ptr() unsafe.Pointer {
	if o.u8 != nil {
		return unsafe.Pointer(unsafe.SliceData(o.u8))
	}
	return unsafe.Pointer(unsafe.SliceData(o.f32))
}

// parallelMinMACs is the size below which a product stays on one
// goroutine: waking a helper costs a few microseconds, as much as about
// 10^5 multiply-accumulates.
const parallelMinMACs = 1 << 17

// rowsPerTile is the height of the kernels' blocks of c; parts of a
// parallel product are whole tiles.
const rowsPerTile = 8

func run(a *operand, m, n, k int, alpha float32, b []float32, ldb int, c []float32, ldc int, parallel bool) {
	checkMatrix("b", len(b), k, n, ldb)
	checkMatrix("c", len(c), m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	tiles := (m + rowsPerTile - 1) / rowsPerTile
	if !parallel || m*n*k < parallelMinMACs || tiles < 2 {
		rowsRange(a, 0, m, n, k, alpha, b, ldb, c, ldc)
		return
	}
	bd := bodies.Get().(*body)
	*bd = body{a: *a, m: m, n: n, k: k, alpha: alpha, b: b, ldb: ldb, c: c, ldc: ldc}
	bd.parts = min(tiles, 4*par.Procs())
	par.For(bd.parts, bd)
	*bd = body{}
	bodies.Put(bd)
}

// body is a parallel product; part i computes a band of whole tiles.
type body struct {
	a         operand
	m, n, k   int
	alpha     float32
	b         []float32
	ldb       int
	c         []float32
	ldc       int
	parts     int
	_padCache [64]byte // keeps pooled bodies of concurrent callers apart
}

var bodies = sync.Pool{New: func() any { return new(body) }}

func (bd *body) Do(i int) {
	lo, hi := par.Split(bd.m, bd.parts, rowsPerTile, i)
	if lo < hi {
		rowsRange(&bd.a, lo, hi, bd.n, bd.k, bd.alpha, bd.b, bd.ldb, bd.c, bd.ldc)
	}
}

// rowsRange computes rows [r0, r1) of c.
func rowsRange(a *operand, r0, r1, n, k int, alpha float32, b []float32, ldb int, c []float32, ldc int) {
	if useAsm512 {
		rowsAsm512(a, r0, r1, n, k, alpha, b, ldb, c, ldc)
		return
	}
	if useAsm {
		rowsAsm(a, r0, r1, n, k, alpha, b, ldb, c, ldc)
		return
	}
	rowsGo(a, r0, r1, n, k, alpha, b, ldb, c, ldc)
}

// rowsGo is the portable kernel: for each row of c, the rows of b scaled
// by alpha*a[i][l] are added in order of l, as gonum does.
func rowsGo(a *operand, r0, r1, n, k int, alpha float32, b []float32, ldb int, c []float32, ldc int) {
	for i := r0; i < r1; i++ {
		ci := c[i*ldc : i*ldc+n]
		clear(ci)
		for l := range k {
			var v float32
			switch {
			case a.u8 != nil && a.trans:
				v = float32(a.u8[l*a.lda+i])
			case a.u8 != nil:
				v = float32(a.u8[i*a.lda+l])
			case a.trans:
				v = a.f32[l*a.lda+i]
			default:
				v = a.f32[i*a.lda+l]
			}
			t := alpha * v
			if t == 0 {
				continue
			}
			bl := b[l*ldb : l*ldb+n]
			for j, bv := range bl {
				// The conversion forbids fusing into an FMA: each product
				// is rounded before the addition, as in gonum's kernel.
				ci[j] += float32(t * bv)
			}
		}
	}
}
