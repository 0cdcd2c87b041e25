//go:build amd64 && !purego

package layers

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

//go:noescape
func adam512(w, grad, mom, vel *float32, n int, c *[4]float32)

// adamVector updates w, m, v from g with AVX-512 and reports whether it
// could.
func (s *adamStep) adamVector(w, g, m, v []float32) bool {
	if !x86.AVX512 || len(w) == 0 {
		return false
	}
	c := [4]float32{s.b1, s.b2, s.lr, s.eps}
	adam512(unsafe.SliceData(w), unsafe.SliceData(g[:len(w)]), unsafe.SliceData(m[:len(w)]), unsafe.SliceData(v[:len(w)]), len(w), &c)
	return true
}
