//go:build amd64 && !purego

package layers

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

//go:noescape
func adam512(w, grad, mom, vel *float32, n int, c *[5]float32)

// vectorAdam reports whether adamVector does the updates.
func vectorAdam() bool { return x86.AVX512 }

// adamVector updates w, m, v from g with AVX-512 (and clamps w to
// +-s.clamp if that is not 0) and reports whether it could.
func (s *adamStep) adamVector(w, g, m, v []float32) bool {
	if !x86.AVX512 {
		return false
	}
	if len(w) == 0 {
		return true
	}
	c := [5]float32{s.b1, s.b2, s.lr, s.eps, s.clamp}
	adam512(unsafe.SliceData(w), unsafe.SliceData(g[:len(w)]), unsafe.SliceData(m[:len(w)]), unsafe.SliceData(v[:len(w)]), len(w), &c)
	return true
}
