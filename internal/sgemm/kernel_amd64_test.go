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

// TestTile8ArgsLayout: kernel512_amd64.s reads tile8Args at these offsets.
func TestTile8ArgsLayout(t *testing.T) {
	var a tile8Args
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"a", unsafe.Offsetof(a.a), 0}, {"c", unsafe.Offsetof(a.c), 64}, {"b", unsafe.Offsetof(a.b), 128},
		{"ldb", unsafe.Offsetof(a.ldb), 136}, {"ls", unsafe.Offsetof(a.ls), 144}, {"k", unsafe.Offsetof(a.k), 152},
		{"alpha", unsafe.Offsetof(a.alpha), 160}, {"scale", unsafe.Offsetof(a.scale), 164},
		{"m1", unsafe.Offsetof(a.m1), 168}, {"m2", unsafe.Offsetof(a.m2), 172}, {"acc", unsafe.Offsetof(a.acc), 176},
	} {
		if f.got != f.want {
			t.Errorf("tile8Args.%s at offset %d, the assembly reads %d", f.name, f.got, f.want)
		}
	}
}

// TestEveryKernelLevel runs the bit-for-bit tests again with the AVX2
// kernels where the AVX-512 ones would be chosen (and the tests above
// covered those).
func TestEveryKernelLevel(t *testing.T) {
	if !useAsm512 {
		t.Skip("no AVX-512: the tests above ran the AVX2 kernels")
	}
	useAsm512 = false
	defer func() { useAsm512 = true }()
	checkMul(t)
	checkMulU8(t)
	checkMulU8T(t)
}
