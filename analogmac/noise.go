package analogmac

import "math"

// The trial noise needs about one normal number per block output, as many
// as the device has outputs, so its generator is the Chip's main extra cost
// over Ideal. normals is a ziggurat (Marsaglia and Tsang, "The Ziggurat
// Method for Generating Random Variables", 2000) with 256 layers of equal
// area, fed by SplitMix64 (Steele, Lea and Flood 2014): one 64-bit draw and
// one multiply per number in 98.6 % of cases; 256 layers rather than 128
// halve the calls to math.Exp, which cost as much as all the fast draws.

// Ziggurat constants for 256 layers: the start of the tail and the area of
// each layer under exp(-x^2/2); TestZigguratTables checks that they close
// the recursion.
const (
	zigLayers = 256
	zigR      = 3.6541528853610088
	zigArea   = 4.92867323399e-3
)

var (
	// zigX[i] is the right edge of layer i, zigX[0] the width of the base
	// layer (rectangle plus tail) and zigX[zigLayers] = 0. Layer i covers
	// heights zigF[i]..zigF[i+1] with zigF[i] = exp(-zigX[i]^2/2).
	zigX, zigF [zigLayers + 1]float64
	// zigScale[i] = zigX[i] / 2^53 turns 53 random bits into [0, zigX[i]);
	// zigInner[i] = zigX[i+1], below which a point is under the curve.
	// Both have exactly zigLayers entries so that indexing by an 8-bit value
	// needs no bounds check.
	zigScale, zigInner [zigLayers]float64
)

func init() {
	f := func(x float64) float64 { return math.Exp(-0.5 * x * x) }
	zigX[0] = zigArea / f(zigR)
	zigX[1] = zigR
	for i := 1; i < zigLayers-1; i++ {
		zigX[i+1] = math.Sqrt(-2 * math.Log(zigArea/zigX[i]+f(zigX[i])))
	}
	zigX[zigLayers] = 0
	for i := range zigF {
		zigF[i] = f(zigX[i])
	}
	for i := range zigScale {
		zigScale[i] = zigX[i] * 0x1p-53
		zigInner[i] = zigX[i+1]
	}
}

// normals draws standard normal numbers; the zero value is a valid stream.
type normals struct{ state uint64 }

func (n *normals) seed(s uint64) { n.state = s }

// uint64 is SplitMix64: a Weyl sequence through the finaliser of mix64.
func (n *normals) uint64() uint64 {
	z := mix64(n.state)
	n.state += golden64
	return z
}

// uniform returns a float64 in [0, 1).
func (n *normals) uniform() float64 { return float64(int64(n.uint64()>>11)) * 0x1p-53 }

// normal returns a standard normal number. Bits 0-7 of a draw pick the
// layer, bit 8 the sign and bits 11-63 the position in the layer.
func (n *normals) normal() float64 {
	for {
		u := n.uint64()
		i := u & (zigLayers - 1)
		x := float64(int64(u>>11)) * zigScale[i] // int64: one conversion instruction
		if x >= zigInner[i] {
			var ok bool
			if x, ok = n.edge(i, x); !ok {
				continue
			}
		}
		// Bit 8 becomes the sign bit: a branch here would be mispredicted
		// half of the time.
		return math.Float64frombits(math.Float64bits(x) | (u&zigLayers)<<55)
	}
}

// fill writes len(buf) standard normal numbers: the same numbers as as many
// calls of normal. Where the processor has AVX-512, eight draws are made at
// once (zigFast512) until one leaves the fast path, which normal takes;
// otherwise the loop below keeps the state in a register and the fast path
// inline, so that successive draws overlap in the processor.
func (n *normals) fill(buf []float64) {
	if vectorNoise() {
		for len(buf) > 0 {
			k := n.fillFast(buf)
			if k == len(buf) {
				return
			}
			buf[k] = n.normal()
			buf = buf[k+1:]
		}
		return
	}
	s := n.state
	for j := range buf {
		for {
			u := mix64(s)
			s += golden64
			i := u & (zigLayers - 1)
			x := float64(int64(u>>11)) * zigScale[i]
			if x >= zigInner[i] {
				var ok bool
				n.state = s
				x, ok = n.edge(i, x)
				s = n.state
				if !ok {
					continue
				}
			}
			buf[j] = math.Float64frombits(math.Float64bits(x) | (u&zigLayers)<<55)
			break
		}
	}
	n.state = s
}

// edge handles the 1.4 % of draws outside a layer's inner rectangle: from the
// base layer it draws from the tail beyond zigR (Marsaglia's method),
// otherwise it accepts x if a uniform height in the layer falls under the
// curve. It reports false to ask for a new draw.
func (n *normals) edge(i uint64, x float64) (float64, bool) {
	if i == 0 {
		for {
			a := -math.Log(1-n.uniform()) / zigR
			b := -math.Log(1 - n.uniform())
			if b+b >= a*a {
				return zigR + a, true
			}
		}
	}
	y := zigF[i] + n.uniform()*(zigF[i+1]-zigF[i])
	return x, y < math.Exp(-0.5*x*x)
}
