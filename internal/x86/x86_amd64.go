//go:build amd64 && !purego

package x86

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

func init() {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if ecx1&osxsave == 0 || ecx1&avx == 0 {
		return
	}
	xcr0, _ := xgetbv()
	if xcr0&6 != 6 { // XMM and YMM state
		return
	}
	_, ebx7, ecx7, _ := cpuid(7, 0)
	AVX2 = ebx7&(1<<5) != 0
	const (
		f    = 1 << 16
		dq   = 1 << 17
		bmi1 = 1 << 3
		bmi2 = 1 << 8
		bw   = 1 << 30
		vl   = 1 << 31
		fma  = 1 << 12 // leaf 1, ECX
		pop  = 1 << 23 // leaf 1, ECX: POPCNT
	)
	// Opmask, upper halves of ZMM0-15 and ZMM16-31.
	AVX512 = AVX2 && xcr0&0xe0 == 0xe0 && ebx7&(f|dq|bw|vl|bmi1|bmi2) == f|dq|bw|vl|bmi1|bmi2 &&
		ecx1&(fma|pop) == fma|pop
	const vbmi2 = 1 << 6 // leaf 7, ECX
	AVX512VBMI2 = AVX512 && ecx7&vbmi2 != 0
}
