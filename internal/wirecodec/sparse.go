package wirecodec

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// The sparse form of a run's inputs (RunRequest.sparse_inputs, feature
// "sparse_inputs" in chip.proto): the n input bytes in blocks of 64, the
// last block holding the n%64 inputs left if any. Each block is its mask,
// 8 bytes little-endian whose bit k is set when the block's input k is
// listed, followed by the listed inputs in order; an input not listed is
// 0. AppendSparse lists exactly the inputs that are not 0; DecodeSparse
// also takes a listed 0. A mask bit beyond the end of a short last block
// must be clear. The form is lossless for any byte: the server checks the
// decoded values as it checks plain inputs. MNIST's convolution patches,
// three quarters zeros, take about a third of their size.
//
// Blocks of 64 make both directions one instruction per block where
// AVX-512 VBMI2 is at hand (VPCOMPRESSB, VPEXPANDB: sparse_amd64.s); the
// loops below do the same a byte at a time elsewhere.

const sparseBlock = 64

// SparseBound is the most bytes the sparse form of n inputs takes.
func SparseBound(n int) int { return n + 8*((n+sparseBlock-1)/sparseBlock) }

// SparseFast reports whether AppendSparse and DecodeSparse run as vector
// instructions here (about 10 µs for 250 KB), rather than a byte at a
// time (about 1 ns per byte, as much as sending the zeros would cost).
func SparseFast() bool { return sparseFast }

// AppendSparse appends the sparse form of x to dst.
func AppendSparse(dst, x []byte) []byte {
	j := len(dst)
	// The vector loop stores whole blocks: 64 bytes of slack.
	if need := j + SparseBound(len(x)) + sparseBlock; cap(dst) < need {
		nb := make([]byte, j, need)
		copy(nb, dst)
		dst = nb
	}
	buf := dst[:cap(dst)]
	full := len(x) / sparseBlock
	done := 0
	if sparseFast && full > 0 {
		j += sparseEncode512(&buf[j], &x[0], full)
		done = full * sparseBlock
	}
	for i := done; i < len(x); i += sparseBlock {
		blk := x[i:min(i+sparseBlock, len(x))]
		at := j
		j += 8
		var mask uint64
		for k, b := range blk {
			buf[j] = b
			nz := uint64(-uint(b)) >> 63 // 1 when b != 0
			j += int(nz)
			mask |= nz << k
		}
		binary.LittleEndian.PutUint64(buf[at:], mask)
	}
	return dst[:j]
}

// SparseError is a malformed sparse form: what is wrong, at which byte.
type SparseError struct {
	Offset int
	Msg    string
}

func (e *SparseError) Error() string { return fmt.Sprintf("byte %d: %s", e.Offset, e.Msg) }

// DecodeSparse decodes the sparse form src into all of dst (whose length
// is the number of inputs), or reports why src is not the sparse form of
// len(dst) inputs: it ends early, goes on beyond them, or a mask marks
// inputs beyond the last. On failure dst holds no meaningful values.
func DecodeSparse(dst, src []byte) error {
	i, j := 0, 0
	if full := len(dst) / sparseBlock; sparseFast && full > 0 && len(src) >= 8+sparseBlock {
		// As many whole blocks as can be read without a check per block.
		blocks, used := sparseDecode512(&dst[0], &src[0], full, len(src))
		i, j = blocks*sparseBlock, used
	}
	for ; i < len(dst); i += sparseBlock {
		size := min(sparseBlock, len(dst)-i)
		if j+8 > len(src) {
			return &SparseError{j, fmt.Sprintf("ends at input %d of %d", i, len(dst))}
		}
		mask := binary.LittleEndian.Uint64(src[j:])
		if size < sparseBlock && mask>>size != 0 {
			return &SparseError{j, fmt.Sprintf("the mask of the last %d inputs marks inputs beyond them", size)}
		}
		j += 8
		if n := bits.OnesCount64(mask); j+n > len(src) {
			return &SparseError{len(src), fmt.Sprintf("ends within the block of inputs %d..%d: its mask lists %d, %d bytes are left", i, i+size-1, n, len(src)-j)}
		}
		blk := dst[i : i+size]
		clear(blk)
		for ; mask != 0; mask &= mask - 1 {
			blk[bits.TrailingZeros64(mask)] = src[j]
			j++
		}
	}
	if j != len(src) {
		return &SparseError{j, fmt.Sprintf("%d bytes beyond the %d inputs", len(src)-j, len(dst))}
	}
	return nil
}
