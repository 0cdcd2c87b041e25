//go:build amd64 && !purego

package analogmac

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

//go:noescape
func above512(x *uint8, n int, limit uint8) int

// checkedPrefix returns how many leading inputs are known to be in range
// (a multiple of 64), checking 64 at a time where the processor can.
func checkedPrefix(x []uint8) int {
	if !x86.AVX512 || len(x) < 64 {
		return 0
	}
	return above512(unsafe.SliceData(x), len(x), InputMax)
}
