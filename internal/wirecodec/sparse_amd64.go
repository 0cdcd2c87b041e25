//go:build amd64 && !purego

package wirecodec

import "github.com/analogloop/analogloop/internal/x86"

// sparseFast: AVX-512 F and BW with the OS saving the vector state, and
// POPCNT (x86.AVX512, which also makes CPUID leaf 7 valid), and VBMI2
// (VPCOMPRESSB, VPEXPANDB: CPUID leaf 7, ECX bit 6).
var sparseFast = x86.AVX512 && cpuid7ecx()&(1<<6) != 0

// cpuid7ecx is ECX of CPUID leaf 7, sub-leaf 0.
func cpuid7ecx() uint32

// sparseEncode512 writes the sparse form of blocks whole blocks of src to
// dst and returns its length. It stores 72 bytes per block whatever its
// length: dst needs 64 bytes of room beyond the form.
//
//go:noescape
func sparseEncode512(dst, src *byte, blocks int) int

// sparseDecode512 decodes whole blocks of src (srclen bytes, at least 72)
// into dst, at most blocks of them, while a block's mask and 64 bytes can
// be read within srclen; it returns the blocks decoded and the bytes of
// src they took.
//
//go:noescape
func sparseDecode512(dst, src *byte, blocks, srclen int) (done, used int)
