//go:build amd64 && !purego

package analogmac

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

//go:noescape
func relu512(dst *uint8, src *int8, n int, shift uint64)

// convertVector is ConvertReLU with AVX-512, when the processor has it.
func convertVector(dst []uint8, y []int8, shift int) bool {
	if !x86.AVX512 || len(y) == 0 || shift < 0 || shift > MaxShift {
		return false
	}
	relu512(unsafe.SliceData(dst), unsafe.SliceData(y), len(y), uint64(shift))
	return true
}
