//go:build amd64 && !purego

package sgemm

import (
	"testing"
	"unsafe"
)

// TestTileArgsLayout: kernel_amd64.s reads tileArgs at these offsets.
func TestTileArgsLayout(t *testing.T) {
	var a tileArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"a", unsafe.Offsetof(a.a), 0},
		{"c", unsafe.Offsetof(a.c), 32},
		{"b", unsafe.Offsetof(a.b), 64},
		{"ldb", unsafe.Offsetof(a.ldb), 72},
		{"ls", unsafe.Offsetof(a.ls), 80},
		{"k", unsafe.Offsetof(a.k), 88},
		{"alpha", unsafe.Offsetof(a.alpha), 96},
		{"scale", unsafe.Offsetof(a.scale), 100},
		{"mask", unsafe.Offsetof(a.mask), 104},
		{"acc", unsafe.Offsetof(a.acc), 136},
	} {
		if f.got != f.want {
			t.Errorf("tileArgs.%s at offset %d, the assembly reads %d", f.name, f.got, f.want)
		}
	}
	if !useAsm {
		t.Log("no AVX2 here: the assembly kernels are not exercised")
	}
}
