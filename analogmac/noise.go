package analogmac

import "math"

// The trial noise needs about one normal number per block output, as many
// as the device has outputs, so its generator is the Chip's main extra cost
// over Ideal. normals is counter based: normal k of a stream is a pure
// function of the stream's key and k, so that sixteen lanes of AVX-512 can
// compute a group of them at once with nothing carried from one to the
// next, and any piece of a stream can be computed on its own.
//
// The numbers come in groups of 32 from sixteen draws of SplitMix64
// (Steele, Lea and Flood 2014): draw d is mix64(key + d*golden64), the d-th
// output of the SplitMix64 generator seeded with key. The eight draws
// 16g..16g+7 give sixteen 32-bit words for radii, draws 16g+8..16g+15
// sixteen for angles (low word first); radius word j and angle word j
// give numbers 32g + j and 32g + 16 + j by the Box-Muller transform (Box
// and Muller, 1958): r cos t and r sin t with r = sqrt(-2 ln u), u the
// radius word over 2^32 in (0, 1], t the angle word times 2 pi / 2^32.
// These are exactly independent standard normal numbers for exact u and t;
// here everything is computed in float32 (relative error about 2e-7), so
// the largest number possible is sqrt(64 ln 2) = 6.66 (a standard normal
// exceeds it with probability 3e-11) and the distribution function is
// exact to about 2^-24.
//
// The arithmetic is written out operation by operation, in float32 without
// fused multiply-adds (explicit conversions stop the compiler from fusing),
// with a correctly rounded division and square root: the AVX-512 kernel
// (noise_amd64.s) does the same operations in the same order, so both give
// every number bit for bit, on every machine.

// normals is a stream of standard normal numbers: its key and the index of
// the next number. The zero value is a valid stream.
type normals struct {
	key uint64
	pos uint64
}

// seed restarts the stream with key s.
func (n *normals) seed(s uint64) { n.key, n.pos = s, 0 }

// normalGroup is the number of normals computed together: two per draw of
// sixteen draws.
const normalGroup = 32

// Constants of boxMuller, rounded to float32. The polynomials' coefficients
// were fitted for the smallest largest relative error on their intervals
// (Lawson's iterations of weighted least squares over Chebyshev nodes).
const (
	// -2 ln u = e (-2 ln 2) - 2 ln m with m in [3/4, 3/2), and
	// ln m = 2 atanh(s) with s = (m-1)/(m+1), |s| <= 1/5: s times a
	// polynomial in s^2 of degree 3 (relative error 2.4e-9). The factor -2
	// is in the coefficients (a power of two: the same numbers as
	// multiplying after).
	bmLn2 float32 = -2 * math.Ln2
	bmL0  float32 = -2 * 2
	bmL1  float32 = -2 * 0.6666705012321472
	bmL2  float32 = -2 * 0.39952677488327026
	bmL3  float32 = -2 * 0.30434879660606384
	// The angle word's low 30 bits, signed, are the offset from the
	// middle of a quadrant, in steps of bmStep (an angle x in [-pi/4,
	// pi/4)); the word plus 2^29 has that quadrant in its top two bits.
	bmStep float32 = math.Pi / 2 / (1 << 30)
	// sin x = x + x^3 (S1 + S2 x^2 + S3 x^4) and
	// cos x = 1 + x^2 (C1 + C2 x^2 + C3 x^4) on [-pi/4, pi/4] (relative
	// errors 3.8e-9 and 3.8e-8).
	bmS1 float32 = -0.16666655242443085
	bmS2 float32 = 0.00833216030150652
	bmS3 float32 = -0.00019515282474458218
	bmC1 float32 = -0.4999988377094269
	bmC2 float32 = 0.0416557751595974
	bmC3 float32 = -0.0013591853203251958
)

// boxMuller turns a radius word and an angle word into two standard normal
// numbers, r cos t and r sin t. Each line is one operation of the vector
// kernel.
func boxMuller(radius, angle uint32) (float32, float32) {
	// u 2^32 = radius | 1 rounded to float32, 2^E f with f in [1, 2);
	// m = f (e = E - 32) or, for f >= 3/2, m = f/2 (e = E - 31): what
	// VGETEXPPS and VGETMANTPS compute.
	bits := math.Float32bits(float32(radius | 1))
	mant := bits & 0x7fffff
	adj := mant >> 22 // f >= 3/2
	e := float32(int32(bits>>23) - 127 - 32 + int32(adj))
	m := math.Float32frombits(mant | 0x3f800000 - adj<<23)
	s := float32(m-1) / float32(m+1)
	s2 := float32(s * s)
	p := float32(bmL3*s2) + bmL2
	p = float32(p*s2) + bmL1
	p = float32(p*s2) + bmL0
	r2 := float32(float32(e*bmLn2) + float32(p*s)) // -2 ln u
	r := float32(math.Sqrt(float64(r2)))

	q := (angle + 1<<29) >> 30
	x := float32(int32(angle<<2)>>2) * bmStep
	x2 := float32(x * x)
	ps := float32(bmS3*x2) + bmS2
	ps = float32(ps*x2) + bmS1
	sin := float32(float32(x*x2)*ps) + x
	pc := float32(bmC3*x2) + bmC2
	pc = float32(pc*x2) + bmC1
	cos := float32(pc*x2) + 1

	// cos and sin of q pi/2 + x: swapped in odd quadrants, cos negated in
	// quadrants 1 and 2, sin in 2 and 3.
	if q&1 != 0 {
		cos, sin = sin, cos
	}
	cb := math.Float32bits(cos) ^ (q+1)<<30&0x80000000
	sb := math.Float32bits(sin) ^ q<<30&0x80000000
	return r * math.Float32frombits(cb), r * math.Float32frombits(sb)
}

// groupWords returns the sixteen radius and sixteen angle words of group
// g of the stream with key key: draw i of the group gives radius words 2i
// and 2i+1 (its low and high half), draw 8+i angle words 2i and 2i+1.
func groupWords(key, g uint64) (radius, angle [16]uint32) {
	d := key + 16*g*golden64
	for i := range 8 {
		r := mix64(d + uint64(i)*golden64)
		a := mix64(d + uint64(8+i)*golden64)
		radius[2*i], radius[2*i+1] = uint32(r), uint32(r>>32)
		angle[2*i], angle[2*i+1] = uint32(a), uint32(a>>32)
	}
	return radius, angle
}

// normalAt is number k of the stream with key key.
func normalAt(key, k uint64) float64 {
	radius, angle := groupWords(key, k/normalGroup)
	j := k % 16
	c, s := boxMuller(radius[j], angle[j])
	if k%normalGroup < 16 {
		return float64(c)
	}
	return float64(s)
}

// normal returns the next number of the stream.
func (n *normals) normal() float64 {
	x := normalAt(n.key, n.pos)
	n.pos++
	return x
}

// fill writes the next len(buf) numbers of the stream: the same numbers as
// as many calls of normal. Whole groups go to the vector kernel where the
// processor has one, and to normalGroups otherwise.
func (n *normals) fill(buf []float64) {
	// The head, up to the start of a group, one number at a time.
	for len(buf) > 0 && n.pos%normalGroup != 0 {
		buf[0] = n.normal()
		buf = buf[1:]
	}
	if len(buf) == 0 {
		return
	}
	k := n.fillGroups(buf)
	n.pos += uint64(k)
	if k < len(buf) {
		normalGroups(n.key, n.pos/normalGroup, buf[k:])
		n.pos += uint64(len(buf) - k)
	}
}

// normalGroups writes the numbers of groups g, g+1, ... of the stream with
// key key into buf, the last group cut at len(buf).
func normalGroups(key, g uint64, buf []float64) {
	var group [normalGroup]float64
	for len(buf) > 0 {
		radius, angle := groupWords(key, g)
		for j := range 16 {
			c, s := boxMuller(radius[j], angle[j])
			group[j], group[16+j] = float64(c), float64(s)
		}
		buf = buf[copy(buf, group[:]):]
		g++
	}
}
