package analogmac

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/analogloop/analogloop/internal/benchcpu"
)

func TestZigguratTables(t *testing.T) {
	// The recursion must close: the top layer has the same area as the
	// others, up to the precision of the published constants.
	top := zigX[zigLayers-1] * (1 - zigF[zigLayers-1])
	if math.Abs(top/zigArea-1) > 1e-6 {
		t.Errorf("top layer area %g, want %g", top, zigArea)
	}
	for i := range zigLayers {
		if !(zigX[i] > zigX[i+1]) {
			t.Fatalf("layer edges not decreasing at %d: %g, %g", i, zigX[i], zigX[i+1])
		}
	}
}

// TestNormals checks moments, tail mass and the Kolmogorov-Smirnov distance
// of a million draws against the standard normal.
func TestNormals(t *testing.T) {
	const n = 1 << 20
	var g normals
	g.seed(12345)
	v := make([]float64, n)
	var s1, s2, s3, s4 float64
	tail, beyondOne := 0, 0
	for i := range v {
		x := g.normal()
		v[i] = x
		s1 += x
		s2 += x * x
		s3 += x * x * x
		s4 += x * x * x * x
		if math.Abs(x) > zigR {
			tail++
		}
		if math.Abs(x) > 1 {
			beyondOne++
		}
	}
	mean, variance := s1/n, s2/n
	skew, kurt := s3/n, s4/n
	check := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.5g, want %.5g +- %g", what, got, want, tol)
		}
	}
	check("mean", mean, 0, 5*1/math.Sqrt(n))
	check("variance", variance, 1, 5*math.Sqrt(2.0/n))
	check("third moment", skew, 0, 5*math.Sqrt(15.0/n))
	check("fourth moment", kurt, 3, 5*math.Sqrt(96.0/n))
	pTail := math.Erfc(zigR / math.Sqrt2)
	check("P(|x| > r)", float64(tail)/n, pTail, 5*math.Sqrt(pTail/n))
	pOne := math.Erfc(1 / math.Sqrt2)
	check("P(|x| > 1)", float64(beyondOne)/n, pOne, 5*math.Sqrt(pOne/n))
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

func BenchmarkNormal(b *testing.B) {
	var g normals
	var s float64
	for b.Loop() {
		s += g.normal()
	}
	_ = s
}

// TestFillMatchesNormalAtLength: millions of draws, filled in pieces of
// every size up to a few hundred, give normal's numbers: the vector path's
// fast draws, its own edge tests (about 1.4 % of draws, accepted and
// rejected) and the draws it leaves to normal (the tail) all line up.
func TestFillMatchesNormalAtLength(t *testing.T) {
	var a, b normals
	a.seed(12345)
	b.seed(12345)
	buf := make([]float64, 300)
	rng := rand.New(rand.NewPCG(9, 9))
	n, tail := 0, 0
	for n < 3000000 {
		k := rng.IntN(len(buf) + 1)
		a.fill(buf[:k])
		for i, x := range buf[:k] {
			if y := b.normal(); math.Float64bits(x) != math.Float64bits(y) {
				t.Fatalf("draw %d: fill %v, normal %v", n+i, x, y)
			}
			if math.Abs(x) > zigR {
				tail++
			}
		}
		n += k
	}
	if tail == 0 {
		t.Fatal("no draw from the tail: the test misses a path")
	}
}

// TestFillLeavesNormalsState: fills of short and medium lengths (every
// group of the vector path split at any point, edge tests on a group's
// last draw whose next draw the next group skips) give normal's numbers
// and leave the stream where as many calls of normal would.
func TestFillLeavesNormalsState(t *testing.T) {
	for seed := uint64(1); seed < 5; seed++ {
		var a, b normals
		a.seed(seed * 7777)
		b.seed(seed * 7777)
		buf := make([]float64, 300)
		rng := rand.New(rand.NewPCG(seed, 9))
		for n := 0; n < 2000000; {
			k := rng.IntN(len(buf) + 1)
			if seed%2 == 0 {
				k = rng.IntN(20)
			}
			a.fill(buf[:k])
			for i, x := range buf[:k] {
				if y := b.normal(); math.Float64bits(x) != math.Float64bits(y) {
					t.Fatalf("seed %d, draw %d: fill %v, normal %v", seed, n+i, x, y)
				}
			}
			n += k
			if a.state != b.state {
				t.Fatalf("seed %d: after %d draws fill leaves state %#x, normal %#x", seed, n, a.state, b.state)
			}
		}
	}
}

func TestFillMatchesNormal(t *testing.T) {
	var a, b normals
	a.seed(99)
	b.seed(99)
	buf := make([]float64, 100000)
	a.fill(buf[:7])
	a.fill(buf[7:])
	for i, x := range buf {
		if y := b.normal(); x != y {
			t.Fatalf("draw %d: fill %g, normal %g", i, x, y)
		}
	}
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
