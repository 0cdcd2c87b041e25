//go:build amd64 && !purego

package analogmac

import (
	"testing"
	"unsafe"
)

// TestFinishArgsLayout: finish_amd64.s reads finishArgs at these offsets.
func TestFinishArgsLayout(t *testing.T) {
	var a finishArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"acc", unsafe.Offsetof(a.acc), 0}, {"noise", unsafe.Offsetof(a.noise), 8},
		{"tot", unsafe.Offsetof(a.tot), 16}, {"dst", unsafe.Offsetof(a.dst), 24},
		{"scale", unsafe.Offsetof(a.scale), 32}, {"off", unsafe.Offsetof(a.off), 40},
		{"lin", unsafe.Offsetof(a.lin), 48}, {"cols", unsafe.Offsetof(a.cols), 56},
		{"rows", unsafe.Offsetof(a.rows), 64}, {"nb", unsafe.Offsetof(a.nb), 72},
		{"plane", unsafe.Offsetof(a.plane), 80}, {"k", unsafe.Offsetof(a.k), 88},
		{"std", unsafe.Offsetof(a.std), 96}, {"invHead", unsafe.Offsetof(a.invHead), 104},
	} {
		if f.got != f.want {
			t.Errorf("finishArgs.%s at offset %d, the assembly reads %d", f.name, f.got, f.want)
		}
	}
}
