package x86

import "testing"

func TestFeatures(t *testing.T) {
	t.Logf("AVX2 %v, AVX-512 %v, AVX-512 VBMI2 %v", AVX2, AVX512, AVX512VBMI2)
	if AVX512 && !AVX2 {
		t.Error("AVX-512 reported without AVX2")
	}
	if AVX512VBMI2 && !AVX512 {
		t.Error("AVX-512 VBMI2 reported without AVX-512")
	}
}
