//go:build amd64 && !purego

package wirecodec

import "github.com/analogloop/analogloop/internal/x86"

// sparseFast: the kernels below need AVX-512 BW and POPCNT with the OS
// saving the vector state, and VBMI2 (VPCOMPRESSB, VPEXPANDB).
var sparseFast = x86.AVX512VBMI2

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
