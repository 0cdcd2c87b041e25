//go:build amd64 && !purego

package sgemm

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

// tileArgs is what a kernel reads: four rows of op(a) (row r at l = 0), the
// four rows of the c block it writes, the first row of b under the block,
// and the strides. kernel_amd64.s reads the fields at fixed offsets
// (TestTileArgsLayout).
type tileArgs struct {
	a     [4]unsafe.Pointer
	c     [4]unsafe.Pointer
	b     unsafe.Pointer
	ldb   uintptr // bytes between rows of b
	ls    uintptr // bytes between the l-th and (l+1)-th element of a row of op(a)
	k     uintptr
	alpha float32
	scale uint32 // 0: alpha is 1, skip the multiplication
	mask  [8]int32
	acc   uint32 // 1: add to the block of c instead of overwriting it
	// spare takes the rows of a block beyond the end of c.
	spare [4 * 16]float32
}

// u8f32 converts a uint8 to float32 by table lookup inside the kernels.
var u8f32 [256]float32

func init() {
	for i := range u8f32 {
		u8f32[i] = float32(i)
	}
	useAsm = x86.AVX2
	useAsm512 = x86.AVX512
}

var useAsm512 bool

// tile8Args is what the AVX-512 kernels read (kernel512_amd64.s, at fixed
// offsets: TestTile8ArgsLayout): eight rows of op(a), the eight rows of
// the c block, b under it, strides, and the masks of the block's two
// 16-column halves.
type tile8Args struct {
	a      [8]unsafe.Pointer
	c      [8]unsafe.Pointer
	b      unsafe.Pointer
	ldb    uintptr
	ls     uintptr
	k      uintptr
	alpha  float32
	scale  uint32
	m1, m2 uint32 // 16-bit lane masks
	acc    uint32
	spare  [8 * 32]float32
}

//go:noescape
func k8x32f(t *tile8Args)

//go:noescape
func k8x32u(t *tile8Args)

// rowsAsm512 is rowsAsm with the AVX-512 kernels: 8 x 32 blocks, the last
// columns under masks, the last rows repeated into spare rows.
func rowsAsm512(a *operand, r0, r1, n, k int, alpha float32, b []float32, ldb int, c []float32, ldc int) {
	var t tile8Args
	t.ldb = uintptr(ldb) * 4
	t.ls = a.ls
	t.alpha = alpha
	if alpha != 1 {
		t.scale = 1
	}
	u8 := a.u8 != nil
	cp := unsafe.Pointer(unsafe.SliceData(c))
	for l0 := 0; l0 < k; {
		l1 := kBlockEnd(l0, k)
		t.k = uintptr(l1 - l0)
		t.acc = 0
		if l0 > 0 {
			t.acc = 1
		}
		base := unsafe.Add(a.ptr(), uintptr(l0)*a.ls)
		bp := unsafe.Pointer(&b[l0*ldb])
		for i := r0; i < r1; i += 8 {
			rows := min(8, r1-i)
			var crow [8]unsafe.Pointer
			for r := range 8 {
				t.a[r] = unsafe.Add(base, uintptr(i+min(r, rows-1))*a.rs)
				if r < rows {
					crow[r] = unsafe.Add(cp, (i+r)*ldc*4)
				} else {
					crow[r] = unsafe.Pointer(&t.spare[r*32])
				}
			}
			for j := 0; j < n; j += 32 {
				w := min(32, n-j)
				t.m1 = 1<<min(w, 16) - 1
				t.m2 = 1<<max(w-16, 0) - 1
				t.b = unsafe.Add(bp, j*4)
				for r := range 8 {
					t.c[r] = crow[r]
					if r < rows {
						t.c[r] = unsafe.Add(crow[r], j*4)
					}
				}
				if u8 {
					k8x32u(&t)
				} else {
					k8x32f(&t)
				}
			}
		}
		l0 = l1
	}
}

var useAsm bool

// Kernels (kernel_amd64.s). The 16-wide ones compute a 4 x 16 block of c;
// the masked ones a 4 x 8 block of which the lanes with mask[j] < 0 are
// read from b and written to c. f: a is float32; u: a is uint8.
//
//go:noescape
func k4x16f(t *tileArgs)

//go:noescape
func k4x8mf(t *tileArgs)

//go:noescape
func k4x16u(t *tileArgs)

//go:noescape
func k4x8mu(t *tileArgs)

// rowsAsm computes rows [r0, r1) of c with the kernels: full 16-column
// blocks, then the remaining columns 8 at a time under a mask. A last group
// of fewer than four rows repeats its last row of a and writes the extra
// rows into a spare block. Long sums are cut into blocks of kBlock steps,
// each block added to what c holds (exact: c holds the float32 partial
// sum), so that the part of a that a block reads stays in the L1 cache
// while every tile of the band runs through it. Everything is one function
// so that t, which holds pointers to itself, stays on the stack.
func rowsAsm(a *operand, r0, r1, n, k int, alpha float32, b []float32, ldb int, c []float32, ldc int) {
	var t tileArgs
	t.ldb = uintptr(ldb) * 4
	t.ls = a.ls
	t.alpha = alpha
	if alpha != 1 {
		t.scale = 1
	}
	u8 := a.u8 != nil
	cp := unsafe.Pointer(unsafe.SliceData(c))
	n16 := n &^ 15
	for l0 := 0; l0 < k; {
		l1 := kBlockEnd(l0, k)
		t.k = uintptr(l1 - l0)
		t.acc = 0
		if l0 > 0 {
			t.acc = 1
		}
		base := unsafe.Add(a.ptr(), uintptr(l0)*a.ls)
		bp := unsafe.Pointer(&b[l0*ldb])
		for i := r0; i < r1; i += 4 {
			rows := min(4, r1-i)
			var crow [4]unsafe.Pointer
			for r := range 4 {
				t.a[r] = unsafe.Add(base, uintptr(i+min(r, rows-1))*a.rs)
				if r < rows {
					crow[r] = unsafe.Add(cp, (i+r)*ldc*4)
				} else {
					crow[r] = unsafe.Pointer(&t.spare[r*16])
				}
			}
			for j := 0; j < n; {
				w := 16 // columns of this block: 16, or up to 8 under a mask
				if j >= n16 {
					w = min(8, n-j)
					for q := range t.mask {
						t.mask[q] = 0
						if q < w {
							t.mask[q] = -1
						}
					}
				}
				t.b = unsafe.Add(bp, j*4)
				for r := range 4 {
					t.c[r] = crow[r]
					if r < rows {
						t.c[r] = unsafe.Add(crow[r], j*4)
					}
				}
				// Direct calls: through a func value, t would escape.
				switch {
				case w == 16 && u8:
					k4x16u(&t)
				case w == 16:
					k4x16f(&t)
				case u8:
					k4x8mu(&t)
				default:
					k4x8mf(&t)
				}
				if w == 16 {
					j += 16
				} else {
					j += 8 // the masked kernel's block
				}
			}
		}
		l0 = l1
	}
}

// kBlock is the number of steps of a long sum done at a time.
const kBlock = 128

// kBlockEnd is where the block of a long sum of k steps that starts at l0
// ends: kBlock steps on, or k when less than half a block would remain.
func kBlockEnd(l0, k int) int {
	if l1 := min(k, l0+kBlock); k-l1 >= kBlock/2 {
		return l1
	}
	return k
}
