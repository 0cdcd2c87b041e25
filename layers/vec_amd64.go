//go:build amd64 && !purego

package layers

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

//go:noescape
func toInputs512(dst *uint8, src *float32, n int) int

//go:noescape
func quantize512(dst *int8, src *float32, n int) int

// toInputsVector converts a prefix of x to 5-bit inputs and returns its
// length (see toInputs512).
func toInputsVector(xq []uint8, x []float32) int {
	if !x86.AVX512 || len(x) == 0 {
		return 0
	}
	return toInputs512(unsafe.SliceData(xq[:len(x)]), unsafe.SliceData(x), len(x))
}

// quantizeVector quantizes a prefix of w and returns its length.
func quantizeVector(dst []int8, w []float32) int {
	if !x86.AVX512 || len(w) == 0 {
		return 0
	}
	return quantize512(unsafe.SliceData(dst[:len(w)]), unsafe.SliceData(w), len(w))
}

//go:noescape
func clamp512(y *float32, n int)

//go:noescape
func clampAdd512(tot, acc *float32, n int)

//go:noescape
func reluF512(dst, src *float32, n int, div float32)

//go:noescape
func reluGradF512(gin, grad, y *float32, n int, div float32)

// clampVector sets y = clampOut(y) and reports whether it could.
func clampVector(y []float32) bool {
	if !x86.AVX512 || len(y) == 0 {
		return false
	}
	clamp512(unsafe.SliceData(y), len(y))
	return true
}

// clampAddVector adds clampOut(acc) to tot and reports whether it could.
func clampAddVector(tot, acc []float32) bool {
	if !x86.AVX512 || len(acc) == 0 {
		return false
	}
	clampAdd512(unsafe.SliceData(tot[:len(acc)]), unsafe.SliceData(acc), len(acc))
	return true
}

// reluFloatVector is ConvertingReLU.Forward in float mode.
func reluFloatVector(dst, y []float32, div float32) bool {
	if !x86.AVX512 || len(y) == 0 {
		return false
	}
	reluF512(unsafe.SliceData(dst[:len(y)]), unsafe.SliceData(y), len(y), div)
	return true
}

// reluGradFloatVector is the ConvertingReLU's gradient on float inputs.
func reluGradFloatVector(gin, g, y []float32, div float32) bool {
	if !x86.AVX512 || len(y) == 0 {
		return false
	}
	reluGradF512(unsafe.SliceData(gin[:len(y)]), unsafe.SliceData(g[:len(y)]), unsafe.SliceData(y), len(y), div)
	return true
}
