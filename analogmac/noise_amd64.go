//go:build amd64 && !purego

package analogmac

import (
	"unsafe"

	"github.com/analogloop/analogloop/internal/x86"
)

// zigSteps[j] is (j+1) * golden64: lane j of zigFast512 draws from the
// state j steps ahead, after mix64's own increment.
var zigSteps [8]uint64

// zigPair[i] is (zigScale[i], zigInner[i]): one 16-byte load per draw.
var zigPair [zigLayers][2]float64

func init() {
	for j := range zigSteps {
		zigSteps[j] = uint64(j+1) * golden64
	}
	for i := range zigPair {
		zigPair[i] = [2]float64{zigScale[i], zigInner[i]}
	}
}

// zigFast512 writes normals into buf[:n], eight draws at a time on the
// ziggurat's fast path and the edge test of the layers above the base in
// scalar code, and stops before a draw it leaves to normal (the base
// layer's tail, an edge test too close to call without math.Exp). It
// returns how many it wrote and advances *state past the draws they took:
// the same numbers as so many calls of normal (noise_amd64.s).
//
//go:noescape
func zigFast512(state *uint64, buf *float64, n int) int

// fillFast writes a prefix of buf on the fast path, if the processor can.
func (n *normals) fillFast(buf []float64) int {
	if !x86.AVX512 || len(buf) == 0 {
		return 0
	}
	return zigFast512(&n.state, unsafe.SliceData(buf), len(buf))
}

// vectorNoise reports whether fillFast does anything.
func vectorNoise() bool { return x86.AVX512 }

// expApprox is the exp approximation of zigFast512's edge test.
func expApprox(t float64) float64
