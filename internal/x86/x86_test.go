package x86

import "testing"

func TestFeatures(t *testing.T) {
	t.Logf("AVX2 %v, AVX-512 %v", AVX2, AVX512)
	if AVX512 && !AVX2 {
		t.Error("AVX-512 reported without AVX2")
	}
}
