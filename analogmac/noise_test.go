package analogmac

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/analogloop/analogloop/internal/benchcpu"
)

// TestNormals checks moments, tail masses and the Kolmogorov-Smirnov
// distance of a million numbers against the standard normal, and the
// correlation of the two numbers of a draw and of neighbours.
func TestNormals(t *testing.T) {
	const n = 1 << 20
	var g normals
	g.seed(12345)
	v := make([]float64, n)
	g.fill(v)
	var s1, s2, s3, s4, pair, next float64
	beyond := [4]int{}
	for i, x := range v {
		s1 += x
		s2 += x * x
		s3 += x * x * x
		s4 += x * x * x * x
		for j := range beyond {
			if math.Abs(x) > float64(j+1) {
				beyond[j]++
			}
		}
		if i%normalGroup < 16 {
			pair += x * v[i+16] // r cos t and r sin t of one draw
		}
		if i+1 < n {
			next += x * v[i+1]
		}
	}
	check := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.5g, want %.5g +- %g", what, got, want, tol)
		}
	}
	check("mean", s1/n, 0, 5/math.Sqrt(n))
	check("variance", s2/n, 1, 5*math.Sqrt(2.0/n))
	check("third moment", s3/n, 0, 5*math.Sqrt(15.0/n))
	check("fourth moment", s4/n, 3, 5*math.Sqrt(96.0/n))
	check("E[cos sin] of a draw", pair/(n/2), 0, 5/math.Sqrt(n/2))
	check("E[x_k x_k+1]", next/(n-1), 0, 5/math.Sqrt(n))
	for j, k := range beyond {
		p := math.Erfc(float64(j+1) / math.Sqrt2)
		check(fmt.Sprintf("P(|x| > %d)", j+1), float64(k)/n, p, 5*math.Sqrt(p/n))
	}
	slices.Sort(v)
	var d float64
	for i, x := range v {
		c := 0.5 * math.Erfc(-x/math.Sqrt2)
		d = max(d, math.Abs(c-float64(i)/n), math.Abs(c-float64(i+1)/n))
	}
	if lim := 1.95 / math.Sqrt(n); d > lim { // 0.1 % level
		t.Errorf("Kolmogorov-Smirnov distance %.3g > %.3g", d, lim)
	}
}

// edgeRadii and edgeAngles are words at the corners of boxMuller: the
// smallest and largest u, the rounding of the radius word up to 2^32,
// mantissas on either side of 3/2, and angles at the edges of the
// quadrants.
var (
	edgeRadii  = []uint32{0, 1, 2, 3, 0xffffffff, 0xfffffffe, 0xffffff7f, 0xffffff80, 0xffffff00, 0x80000000, 0x7fffffff, 0xc0000000, 0xbfffff80, 0xbfffffbf, 0xbfffffff, 0x00c00000, 0x00bfffff, 0x5a827980}
	edgeAngles = []uint32{0, 0xffffffff, 0x1fffffff, 0x20000000, 0x5fffffff, 0x60000000, 0x9fffffff, 0xa0000000, 0xdfffffff, 0xe0000000, 0x40000000, 0x80000000, 0xc0000000}
)

// TestBoxMullerAccuracy compares boxMuller with the transform computed in
// float64 from the same u (rounded to float32, as boxMuller rounds it) and
// angle.
func TestBoxMullerAccuracy(t *testing.T) {
	type pair struct{ radius, angle uint32 }
	var ws []pair
	for _, r := range edgeRadii {
		for _, a := range edgeAngles {
			ws = append(ws, pair{r, a})
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1 << 20 {
		ws = append(ws, pair{rng.Uint32(), rng.Uint32()})
	}
	var worst float64
	for _, w := range ws {
		u := float64(float32(w.radius|1)) * 0x1p-32
		r := math.Sqrt(-2 * math.Log(u))
		a := 2 * math.Pi * float64(w.angle) / (1 << 32)
		c, s := boxMuller(w.radius, w.angle)
		for _, e := range []float64{float64(c) - r*math.Cos(a), float64(s) - r*math.Sin(a)} {
			// float32 rounding of numbers up to 6.7, and of ln u for u
			// near 1 (r small, its relative error larger).
			err := math.Abs(e) / max(1, r)
			worst = max(worst, err)
			if err > 2e-6 {
				t.Fatalf("words %#x, %#x: (%g, %g), want (%g, %g)", w.radius, w.angle, c, s, r*math.Cos(a), r*math.Sin(a))
			}
		}
		if r > 6.67 {
			t.Fatalf("radius word %#x: r = %g beyond the documented largest number", w.radius, r)
		}
	}
	t.Logf("worst error %.3g", worst)
}

// TestFillMatchesNormal: a stream filled in pieces of every size, starting
// anywhere in a group, gives normal's numbers and leaves the stream where
// as many calls of normal would.
func TestFillMatchesNormal(t *testing.T) {
	for seed := uint64(1); seed < 4; seed++ {
		var a, b normals
		a.seed(seed * 7777)
		b.seed(seed * 7777)
		buf := make([]float64, 300)
		rng := rand.New(rand.NewPCG(seed, 9))
		for n := 0; n < 300000; {
			k := rng.IntN(len(buf) + 1)
			if seed%2 == 0 {
				k = rng.IntN(40)
			}
			a.fill(buf[:k])
			for i, x := range buf[:k] {
				if y := b.normal(); math.Float64bits(x) != math.Float64bits(y) {
					t.Fatalf("seed %d, number %d: fill %v, normal %v", seed, n+i, x, y)
				}
			}
			n += k
			if a.pos != b.pos {
				t.Fatalf("seed %d: after %d numbers fill is at %d, normal at %d", seed, n, a.pos, b.pos)
			}
		}
	}
}

func BenchmarkNormal(b *testing.B) {
	var g normals
	var s float64
	for b.Loop() {
		s += g.normal()
	}
	_ = s
}

func BenchmarkFill(b *testing.B) {
	var g normals
	buf := make([]float64, 256)
	cpu := benchcpu.Start()
	for b.Loop() {
		g.fill(buf)
	}
	cpu.Report(b)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(buf)), "ns/normal")
}
