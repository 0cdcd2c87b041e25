package yinyang

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestClassOfKnownPoints(t *testing.T) {
	for _, c := range []struct {
		x, y float64
		want int
		what string
	}{
		{0.25, 0.5, Dot, "centre of the left dot"},
		{0.75, 0.5, Dot, "centre of the right dot"},
		{0.33, 0.47, Dot, "inside the left dot, off centre"},
		{0.5, 0.9, Yang, "top of the figure"},
		{0.1, 0.7, Yang, "upper left"},
		{0.25, 0.65, Yang, "ring around the left dot, above it"},
		{0.05, 0.5, Yang, "ring around the left dot, left of it"},
		{0.25, 0.35, Yang, "ring around the left dot, below the middle line"},
		{0.5, 0.1, Yin, "bottom of the figure"},
		{0.9, 0.3, Yin, "lower right"},
		{0.75, 0.35, Yin, "ring around the right dot, below it"},
		{0.75, 0.65, Yin, "ring around the right dot, above the middle line"},
		{0.95, 0.5, Yin, "ring around the right dot, right of it"},
	} {
		if !Inside(c.x, c.y) {
			t.Fatalf("%s (%g, %g): not inside the figure", c.what, c.x, c.y)
		}
		if got := Class(c.x, c.y); got != c.want {
			t.Errorf("Class(%g, %g) (%s) = %s, want %s", c.x, c.y, c.what, ClassNames[got], ClassNames[c.want])
		}
	}
	for _, p := range [][2]float64{{0.02, 0.02}, {0.98, 0.98}, {0.5, 1.01}, {-0.01, 0.5}} {
		if Inside(p[0], p[1]) {
			t.Errorf("Inside(%g, %g) = true, want false", p[0], p[1])
		}
	}
}

// The figure is point-symmetric about its centre: reflecting a point swaps
// yin and yang and keeps the dots.
func TestClassPointSymmetry(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	swap := [Classes]int{Yin: Yang, Yang: Yin, Dot: Dot}
	for n := 0; n < 20000; {
		x, y := rng.Float64(), rng.Float64()
		if !Inside(x, y) || math.Abs(y-RBig) < 1e-9 {
			continue
		}
		n++
		if got, want := Class(1-x, 1-y), swap[Class(x, y)]; got != want {
			t.Fatalf("Class(%g, %g) = %s, but its mirror (%g, %g) is %s", 1-x, 1-y, ClassNames[got], x, y, ClassNames[Class(x, y)])
		}
	}
}

// The areas of the regions, from uniform points of the figure: the dots
// are 2 pi RSmall^2, yin and yang each half of the rest.
func TestClassAreas(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var count [Classes]int
	inside := 0
	for range 400000 {
		x, y := rng.Float64(), rng.Float64()
		if !Inside(x, y) {
			continue
		}
		inside++
		count[Class(x, y)]++
	}
	disc := math.Pi * RBig * RBig
	dots := 2 * math.Pi * RSmall * RSmall
	want := [Classes]float64{Yin: (disc - dots) / 2 / disc, Yang: (disc - dots) / 2 / disc, Dot: dots / disc}
	for c := range Classes {
		// ~314,000 points: the std of a share is below 0.001.
		if got := float64(count[c]) / float64(inside); math.Abs(got-want[c]) > 0.005 {
			t.Errorf("share of %s in the figure: %.4f, want %.4f +- 0.005", ClassNames[c], got, want[c])
		}
	}
}

func TestPointsBalancedAndLabelled(t *testing.T) {
	const n = 30000
	xy, labels := Points(n, 7)
	var count [Classes]int
	leftDot := 0
	for i, p := range xy {
		x, y := p[0], p[1]
		if x < 0 || x >= 1 || y < 0 || y >= 1 || !Inside(x, y) {
			t.Fatalf("point %d (%g, %g) is outside the figure", i, x, y)
		}
		if c := Class(x, y); c != int(labels[i]) {
			t.Fatalf("point %d (%g, %g) has label %d, its class is %d", i, x, y, labels[i], c)
		}
		count[labels[i]]++
		if labels[i] == Dot && x < RBig {
			leftDot++
		}
	}
	// Rejection sampling makes each class a third in expectation; drawn
	// without it, the dots would be 8 % of the points. The std of a share
	// over 30,000 samples is 0.0027: the tolerance is about 5 std.
	for c := range Classes {
		if share := float64(count[c]) / n; math.Abs(share-1.0/3) > 0.015 {
			t.Errorf("share of %s: %.4f, want 1/3 +- 0.015", ClassNames[c], share)
		}
	}
	// Within a class points stay uniform: the two dots are equally likely.
	if share := float64(leftDot) / float64(count[Dot]); math.Abs(share-0.5) > 0.03 {
		t.Errorf("share of the left dot among dot samples: %.4f, want 0.5 +- 0.03", share)
	}
}

func TestSetDeterministic(t *testing.T) {
	a, err := Set(1000, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Set(1000, 42)
	if !bytes.Equal(a.Samples, b.Samples) || !bytes.Equal(a.Labels, b.Labels) {
		t.Fatal("two sets from seed 42 differ")
	}
	// Samples are drawn in order: a shorter set is a prefix of a longer one.
	p, _ := Set(100, 42)
	if !bytes.Equal(p.Samples, a.Samples[:400]) || !bytes.Equal(p.Labels, a.Labels[:100]) {
		t.Error("Set(100, 42) is not the start of Set(1000, 42)")
	}
	o, _ := Set(1000, 43)
	same := 0
	for i := range 1000 {
		if bytes.Equal(a.Sample(i), o.Sample(i)) {
			same++
		}
	}
	if same > 10 {
		t.Errorf("seeds 42 and 43 give %d identical samples of 1000", same)
	}
	if err := a.Validate(); err != nil {
		t.Error(err)
	}
}

func TestQuantize(t *testing.T) {
	// Every byte value: its cell [v/256, (v+1)/256) maps to it.
	for v := range 256 {
		lo, hi := float64(v)/256, math.Nextafter(float64(v+1)/256, 0)
		for _, c := range []float64{lo, (float64(v) + 0.5) / 256, hi} {
			if got := Quantize(c); int(got) != v {
				t.Fatalf("Quantize(%g) = %d, want %d", c, got, v)
			}
		}
	}
	// Every 5-bit input k is read from the coordinates [k/32, (k+1)/32).
	for k := range 32 {
		lo, hi := float64(k)/32, math.Nextafter(float64(k+1)/32, 0)
		if a, b := Quantize(lo)>>3, Quantize(hi)>>3; int(a) != k || int(b) != k {
			t.Errorf("5-bit inputs of %g and %g: %d and %d, want %d", lo, hi, a, b, k)
		}
	}
	for _, c := range []struct {
		c    float64
		want uint8
	}{{1, 255}, {1.5, 255}, {math.Inf(1), 255}, {-0.25, 0}, {math.Inf(-1), 0}, {math.NaN(), 0}} {
		if got := Quantize(c.c); got != c.want {
			t.Errorf("Quantize(%g) = %d, want %d", c.c, got, c.want)
		}
	}
}

// Every sample is (x, y, 1-x, 1-y) quantized; each mirrored pair sums to 31
// in 5-bit inputs, and the default training set uses every input level.
func TestSetValues(t *testing.T) {
	const n, seed = 5000, 42
	s, err := Set(n, seed)
	if err != nil {
		t.Fatal(err)
	}
	xy, labels := Points(n, seed)
	if s.N != n || s.Height != 1 || s.Width != 4 || s.Channels != 1 || s.Classes != Classes || !bytes.Equal(s.Labels, labels) {
		t.Fatalf("set %d samples of %dx%dx%d, %d classes: want %d of 1x4x1, 3 classes, the points' labels", s.N, s.Height, s.Width, s.Channels, s.Classes, n)
	}
	var seen [4][32]bool
	for i, p := range xy {
		v := s.Sample(i)
		if v[0] != Quantize(p[0]) || v[1] != Quantize(p[1]) {
			t.Fatalf("sample %d = %v, point (%g, %g)", i, v, p[0], p[1])
		}
		for j, c := range []float64{1 - p[0], 1 - p[1]} {
			if w := Quantize(c); v[2+j] != w && math.Floor(256*p[j]) != 256*p[j] {
				t.Fatalf("sample %d: mirrored value %d = %d, want Quantize(%g) = %d", i, 2+j, v[2+j], c, w)
			}
		}
		if v[0]>>3+v[2]>>3 != 31 || v[1]>>3+v[3]>>3 != 31 {
			t.Fatalf("sample %d = %v: 5-bit pairs %d+%d and %d+%d, want sums of 31", i, v, v[0]>>3, v[2]>>3, v[1]>>3, v[3]>>3)
		}
		for j := range 4 {
			seen[j][v[j]>>3] = true
		}
	}
	for j := range 4 {
		for k, ok := range seen[j] {
			if !ok {
				t.Errorf("input %d never takes the 5-bit value %d", j, k)
			}
		}
	}
}

func TestLoad(t *testing.T) {
	d, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Train.N != DefaultTrain || d.Test.N != DefaultTest {
		t.Fatalf("Load: %s with %d/%d samples, want %s with %d/%d", d.Name, d.Train.N, d.Test.N, Name, DefaultTrain, DefaultTest)
	}
	test, _ := Set(DefaultTest, DefaultTestSeed)
	if !bytes.Equal(d.Test.Samples, test.Samples) {
		t.Error("the default test split is not Set(DefaultTest, DefaultTestSeed)")
	}
	if bytes.Equal(d.Train.Samples[:4*DefaultTest], test.Samples) {
		t.Error("the training and test splits start with the same samples")
	}
	if !strings.Contains(d.Source, "seed 42") || !strings.Contains(d.Source, "seed 40") {
		t.Errorf("Source %q does not name the seeds", d.Source)
	}
	small, err := Load(Options{Train: 30, Test: 20, TrainSeed: 5, TestSeed: 6})
	if err != nil {
		t.Fatal(err)
	}
	if small.Train.N != 30 || small.Test.N != 20 {
		t.Errorf("Load of 30/20 samples gave %d/%d", small.Train.N, small.Test.N)
	}
}

func TestBadOptions(t *testing.T) {
	for _, n := range []int{0, -1, MaxSamples + 1} {
		if _, err := Set(n, 1); err == nil {
			t.Errorf("Set(%d, 1): no error", n)
		}
	}
	for _, o := range []Options{
		{Train: -1},
		{Test: -5},
		{Train: MaxSamples + 1},
		{TrainSeed: 5, TestSeed: 5},
		{TestSeed: DefaultTrainSeed},
	} {
		if d, err := Load(o); err == nil {
			t.Errorf("Load(%+v): no error, %d/%d samples", o, d.Train.N, d.Test.N)
		} else if !strings.HasPrefix(err.Error(), "yinyang: ") {
			t.Errorf("Load(%+v): error %q lacks the package prefix", o, err)
		}
	}
}
