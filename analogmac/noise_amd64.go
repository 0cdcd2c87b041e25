//go:build amd64 && !purego

package analogmac

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

// normalGroups512 writes n > 0 numbers of the stream with key key from the
// start of group group on, sixteen draws at a time: the numbers of
// normalGroups (noise_amd64.s).
//
//go:noescape
func normalGroups512(key, group uint64, buf *float64, n int)

// fillGroups writes buf from the start of a group on, if the processor
// can, and returns how many numbers it wrote.
func (n *normals) fillGroups(buf []float64) int {
	if !x86.AVX512 || len(buf) == 0 {
		return 0
	}
	normalGroups512(n.key, n.pos/normalGroup, unsafe.SliceData(buf), len(buf))
	return len(buf)
}

// vectorNoise reports whether fillGroups does anything.
func vectorNoise() bool { return x86.AVX512 }
