//go:build amd64 && !purego

package analogmac

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

// finishArgs is what the digitisation kernels read (finish_amd64.s, at
// fixed offsets: TestFinishArgsLayout).
type finishArgs struct {
	acc     unsafe.Pointer // block sums: [block][row][column] float32
	noise   unsafe.Pointer // normals: [row][block][column] float64
	tot     unsafe.Pointer // one row of int32 sums
	dst     unsafe.Pointer // the chunk's first output row
	scale   unsafe.Pointer // chip: per column, float64
	off     unsafe.Pointer
	lin     unsafe.Pointer
	cols    int
	rows    int
	nb      int
	plane   int // bytes between row blocks of acc
	k       float64
	std     float64
	invHead float64
}

//go:noescape
func finishIdeal512(a *finishArgs)

//go:noescape
func finishMock512(a *finishArgs)

//go:noescape
func finishChip512(a *finishArgs)

//go:noescape
func finishQuietChip512(a *finishArgs)

// finishVector digitises batch rows [b0, b1) with AVX-512 and reports
// whether it could: their block sums are in sums, the row blocks plane
// values apart; noise holds the chunk's normals in draw order.
func (p *program) finishVector(dst []int8, s Shape, nb, b0, b1 int, sums []float32, plane int, tot []int32, noise []float64) bool {
	if !x86.AVX512 {
		return false
	}
	a := finishArgs{
		acc: unsafe.Pointer(unsafe.SliceData(sums)), tot: unsafe.Pointer(unsafe.SliceData(tot)),
		dst: unsafe.Pointer(&dst[b0*s.Cols]), cols: s.Cols, rows: b1 - b0, nb: nb,
		plane: plane * 4, k: p.k, std: p.std, invHead: p.invHead,
	}
	if len(noise) > 0 {
		a.noise = unsafe.Pointer(unsafe.SliceData(noise))
	}
	switch p.kind {
	case postIdeal:
		finishIdeal512(&a)
	case postMock:
		if p.std == 0 {
			finishIdeal512(&a)
		} else {
			finishMock512(&a)
		}
	case postChip:
		a.scale = unsafe.Pointer(unsafe.SliceData(p.colScale))
		a.off = unsafe.Pointer(unsafe.SliceData(p.colOff))
		a.lin = unsafe.Pointer(unsafe.SliceData(p.colLin))
		if p.std == 0 {
			finishQuietChip512(&a)
		} else {
			finishChip512(&a)
		}
	}
	return true
}
