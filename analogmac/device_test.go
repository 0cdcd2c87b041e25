package analogmac

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// referenceMatMul is the block semantics written out as a naive triple loop
// on integers: per block of BlockRows rows floor(gain*sends*sum), clamped to
// int8, the blocks added and clamped again.
func referenceMatMul(x []uint8, w []int8, s Shape, gain float64, sends int) []int8 {
	k := gain * float64(sends)
	out := make([]int8, s.Batch*s.Cols)
	for b := range s.Batch {
		for c := range s.Cols {
			var total float64
			for r0 := 0; r0 < s.Rows; r0 += BlockRows {
				var sum int64
				for r := r0; r < min(r0+BlockRows, s.Rows); r++ {
					sum += int64(x[b*s.Rows+r]) * int64(w[r*s.Cols+c])
				}
				total += max(OutputMin, min(OutputMax, math.Floor(k*float64(sum))))
			}
			out[b*s.Cols+c] = int8(max(OutputMin, min(OutputMax, total)))
		}
	}
	return out
}

var testShapes = []Shape{
	{Batch: 1, Rows: 1, Cols: 1},
	{Batch: 3, Rows: 5, Cols: 7},
	{Batch: 17, Rows: 128, Cols: 256},
	{Batch: 10, Rows: 129, Cols: 257},
	{Batch: 100, Rows: 500, Cols: 128},
	{Batch: 9, Rows: 300, Cols: 600},
	{Batch: 250, Rows: 100, Cols: 20},
}

func TestIdealMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range testShapes {
		for _, gain := range []float64{DefaultGain, 0.0137} { // the second clamps often
			sends := 1 + rng.IntN(6)
			x, w := randomOperands(rng, s)
			d := withKeys(&Ideal{GainPerSend: gain}, 0)
			got := make([]int8, s.Batch*s.Cols)
			p := Placement{Column: BlockCols * rng.IntN(2)} // the tiles of a wide matrix fit only here
			if s.Cols <= BlockCols {
				p.Column = rng.IntN(ArrayCols - s.Cols + 1)
			}
			if err := d.MatMul(got, x, w, s, sends, p); err != nil {
				t.Fatalf("%+v: %v", s, err)
			}
			want := referenceMatMul(x, w, s, gain, sends)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%+v gain %g sends %d: output %d = %d, reference %d", s, gain, sends, i, got[i], want[i])
			}
		}
	}
}

// TestBlocksClampedBeforeAdding checks that each row block is clamped on its
// own before the digital sum: 256 in block one and -119 in block two give
// 127 - 119 = 8, not 137 clamped to 127.
func TestBlocksClampedBeforeAdding(t *testing.T) {
	s := Shape{Batch: 1, Rows: 2 * BlockRows, Cols: 1}
	x := make([]uint8, s.Rows)
	w := make([]int8, s.Rows)
	x[0], w[0] = 31, 63 // 1953 * 0.0018 * 73 sends = 256.6
	x[BlockRows], w[BlockRows] = 31, -29
	dst := make([]int8, 1)
	sends := 73
	if err := withKeys(NewIdeal(), 0).MatMul(dst, x, w, s, sends, Placement{}); err != nil {
		t.Fatal(err)
	}
	second := math.Floor(DefaultGain * float64(sends) * -31 * 29)
	if want := int8(127 + second); dst[0] != want {
		t.Fatalf("got %d, want %d (127 %+g)", dst[0], want, second)
	}
}

func allDevices(t testing.TB) map[string]*keyed {
	t.Helper()
	m := map[string]*keyed{}
	for _, k := range Kinds() {
		d, err := NewDevice(k, 1)
		if err != nil {
			t.Fatal(err)
		}
		m[k] = withKeys(d, 1)
	}
	return m
}

func TestInvalidArguments(t *testing.T) {
	s := Shape{Batch: 2, Rows: 3, Cols: 4}
	ok := func() ([]int8, []uint8, []int8) {
		return make([]int8, 8), make([]uint8, 6), make([]int8, 12)
	}
	cases := []struct {
		name  string
		edit  func(dst []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement)
		wants string
	}{
		{"input 32", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			x[5] = 32
			return d, x, w, s, 1, Placement{}
		}, "inputs[1][2]: 32"},
		{"weight 64", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			w[11] = 64
			return d, x, w, s, 1, Placement{}
		}, "weights[2][3]: 64"},
		{"weight -64", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			w[0] = -64
			return d, x, w, s, 1, Placement{}
		}, "weights[0][0]: -64"},
		{"weight -128", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			w[0] = -128
			return d, x, w, s, 1, Placement{}
		}, ": -128"},
		{"sends: 0", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x, w, s, 0, Placement{}
		}, "sends: 0"},
		{"sends: -2", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x, w, s, -2, Placement{}
		}, "sends: -2"},
		{"short inputs", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x[:5], w, s, 1, Placement{}
		}, "inputs: hold 5"},
		{"long weights", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x, append(w, 0), s, 1, Placement{}
		}, "weights: hold 13"},
		{"short output", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d[:7], x, w, s, 1, Placement{}
		}, "outputs: hold 7"},
		{"batch: 0", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return nil, nil, w, Shape{Batch: 0, Rows: 3, Cols: 4}, 1, Placement{}
		}, "batch: 0"},
		{"column 512", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x, w, s, 1, Placement{Column: ArrayCols}
		}, "placement"},
		{"column -1", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x, w, s, 1, Placement{Column: -1}
		}, "placement"},
		{"row past the array", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x, w, s, 1, Placement{Row: BlockRows - 2}
		}, "does not fit"},
		{"columns past the array", func(d []int8, x []uint8, w []int8) ([]int8, []uint8, []int8, Shape, int, Placement) {
			return d, x, w, s, 1, Placement{Column: ArrayCols - 3}
		}, "runs past"},
	}
	for name, dev := range allDevices(t) {
		for _, c := range cases {
			dst, x, w, sh, sends, p := c.edit(ok())
			err := dev.MatMul(dst, x, w, sh, sends, p)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.wants) {
				t.Errorf("%s: %s: got error %v, want an ErrInvalid containing %q", name, c.name, err, c.wants)
			}
		}
	}
	m := newMock(1)
	m.NoiseStd = math.NaN()
	if err := m.MatMul(ok2()); err == nil {
		t.Error("mock with NaN noise std: no error")
	}
}

func ok2() ([]int8, []uint8, []int8, Shape, int, Placement) {
	return make([]int8, 1), make([]uint8, 1), make([]int8, 1), Shape{Batch: 1, Rows: 1, Cols: 1}, 1, Placement{}
}

func TestMockWithoutNoiseIsIdeal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := newMock(5)
	m.NoiseStd = 0
	for _, s := range testShapes {
		x, w := randomOperands(rng, s)
		got := make([]int8, s.Batch*s.Cols)
		if err := m.MatMul(got, x, w, s, 4, Placement{}); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, referenceMatMul(x, w, s, DefaultGain, 4)); i >= 0 {
			t.Fatalf("%+v: output %d differs from Ideal", s, i)
		}
	}
}

// TestMockNoiseStd measures the noise on zero products: floor(N(0, sigma))
// has std sqrt(sigma^2 + 1/12) and mean -0.5.
func TestMockNoiseStd(t *testing.T) {
	for _, sigma := range []float64{DefaultMockNoise, 4} {
		m := newMock(9)
		m.NoiseStd = sigma
		s := Shape{Batch: 400, Rows: 10, Cols: 256}
		dst := make([]int8, s.Batch*s.Cols)
		if err := m.MatMul(dst, make([]uint8, s.Batch*s.Rows), make([]int8, s.Rows*s.Cols), s, 1, Placement{}); err != nil {
			t.Fatal(err)
		}
		mu, sd := meanStd(dst)
		want := math.Sqrt(sigma*sigma + 1.0/12)
		if math.Abs(sd/want-1) > 0.03 || math.Abs(mu+0.5) > 0.05 {
			t.Errorf("sigma %g: measured mean %.3f std %.3f, want -0.5 and %.3f (3%%)", sigma, mu, sd, want)
		}
	}
}

func TestSameSeedsSameOutputs(t *testing.T) {
	s := Shape{Batch: 50, Rows: 300, Cols: 40}
	x, w := randomOperands(rand.New(rand.NewPCG(5, 6)), s)
	run := func(d matMuler, calls int) [][]int8 {
		var outs [][]int8
		for range calls {
			dst := make([]int8, s.Batch*s.Cols)
			if err := d.MatMul(dst, x, w, s, 3, Placement{Column: 7}); err != nil {
				t.Fatal(err)
			}
			outs = append(outs, dst)
		}
		return outs
	}
	chip := func(chipSeed, noiseSeed uint64) *testChip { return chipOf(t, chipSeed, noiseSeed, DefaultChipConfig()) }
	pairs := []struct {
		name   string
		a, b   matMuler
		differ bool
	}{
		{"mock same seed", newMock(1), newMock(1), false},
		{"mock other noise seed", newMock(1), newMock(2), true},
		{"chip same seeds", chip(1, 1), chip(1, 1), false},
		{"chip other noise seed", chip(1, 1), chip(1, 2), true},
		{"chip other chip seed", chip(1, 1), chip(2, 1), true},
	}
	for _, p := range pairs {
		a, b := run(p.a, 3), run(p.b, 3)
		for i := range a {
			if same := firstDiff(a[i], b[i]) < 0; same == p.differ {
				t.Errorf("%s: call %d: outputs equal = %v", p.name, i, same)
			}
		}
		if slices.Equal(a[0], a[1]) {
			t.Errorf("%s: two calls gave the same noise", p.name)
		}
		// The same key reproduces a call: restarting the sequence
		// restarts the noise.
		switch d := p.a.(type) {
		case *testMock:
			d.keys.Reset(1)
		case *testChip:
			d.keys.Reset(1)
		}
		if again := run(p.a, 1); firstDiff(again[0], a[0]) >= 0 {
			t.Errorf("%s: restarting the key sequence did not reproduce the first call", p.name)
		}
	}
}

// TestGOMAXPROCSIndependent runs the same products with 1 and 4 procs.
func TestGOMAXPROCSIndependent(t *testing.T) {
	shapes := []Shape{{Batch: 100, Rows: 500, Cols: 128}, {Batch: 2500, Rows: 100, Cols: 20}, {Batch: 3, Rows: 7, Cols: 5}}
	run := func(procs int) [][]int8 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		rng := rand.New(rand.NewPCG(8, 8))
		var outs [][]int8
		for _, k := range Kinds() {
			dev, err := NewDevice(k, 3)
			if err != nil {
				t.Fatal(err)
			}
			d := withKeys(dev, 4)
			for _, s := range shapes {
				x, w := randomOperands(rng, s)
				for range 2 {
					dst := make([]int8, s.Batch*s.Cols)
					if err := d.MatMul(dst, x, w, s, 4, Placement{}); err != nil {
						t.Fatal(err)
					}
					outs = append(outs, dst)
				}
			}
		}
		return outs
	}
	one, four := run(1), run(4)
	for i := range one {
		if j := firstDiff(one[i], four[i]); j >= 0 {
			t.Fatalf("product %d output %d: %d with GOMAXPROCS 1, %d with 4", i, j, one[i][j], four[i][j])
		}
	}
}

// TestConcurrentCalls shares one device, and one program, between
// goroutines: programs of one device run concurrently, runs of one program
// are serialised, and the same noise key gives the same output whichever
// goroutine runs it (run with -race).
func TestConcurrentCalls(t *testing.T) {
	ctx := context.Background()
	for name, k := range allDevices(t) {
		d := k.Device
		s := Shape{Batch: 20, Rows: 200, Cols: 30}
		x, w := randomOperands(rand.New(rand.NewPCG(1, 1)), s)
		m := Matrix{Rows: s.Rows, Cols: s.Cols, Weights: w, Sends: 2}
		shared, err := d.Program(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		want := make([][]int8, 4)
		for i := range want {
			want[i] = make([]int8, s.Batch*s.Cols)
			if err := shared.Run(ctx, want[i], x, s.Batch, uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error)
		for i := range 8 {
			go func() {
				dst := make([]int8, s.Batch*s.Cols)
				var err error
				if i%2 == 0 {
					err = shared.Run(ctx, dst, x, s.Batch, uint64(i/2))
				} else {
					err = MatMul(ctx, d, dst, x, w, s, 2, Placement{}, uint64(i/2))
				}
				if err == nil && firstDiff(dst, want[i/2]) >= 0 {
					err = fmt.Errorf("goroutine %d: key %d gave another output", i, i/2)
				}
				done <- err
			}()
		}
		for range 8 {
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		shared.Close()
	}
}

func TestNewDevice(t *testing.T) {
	for _, k := range Kinds() {
		d, err := NewDevice(k, 1)
		if err != nil || Describe(d).Kind != k {
			t.Errorf("NewDevice(%q) = %T, %v", k, d, err)
		}
		if d.Gain() != DefaultGain {
			t.Errorf("%s: gain %g, want %g", k, d.Gain(), DefaultGain)
		}
	}
	_, err := NewDevice("fpga", 1)
	if err == nil || !strings.Contains(err.Error(), "ideal, mock, chip") || !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown kind: error %v, want an ErrInvalid listing the kinds", err)
	}
	// A Spec builds the device it describes.
	for _, k := range Kinds() {
		spec, err := Preset(k, 9)
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := Describe(d); !reflect.DeepEqual(got, spec) {
			t.Errorf("%s: New(%+v) describes itself as %+v", k, spec, got)
		}
	}
	seed := uint64(3)
	cfg := DefaultChipConfig()
	for _, bad := range []Spec{
		{Kind: KindChip},
		{Kind: KindChip, ChipSeed: &seed, Chip: &cfg, GainPerSend: 0.002},
		{Kind: KindIdeal},
		{Kind: "gpu"},
	} {
		if _, err := New(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%+v): got %v, want ErrInvalid", bad, err)
		}
	}
}

func firstDiff(a, b []int8) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func meanStd(v []int8) (float64, float64) {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return mean(f), stdDev(f)
}

func TestBadGainsAndUnbuiltChipRefused(t *testing.T) {
	dst, x, w := make([]int8, 1), []uint8{1}, []int8{1}
	s := Shape{Batch: 1, Rows: 1, Cols: 1}
	for _, g := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		for _, d := range []Device{&Ideal{GainPerSend: g}, &Mock{GainPerSend: g}} {
			if err := withKeys(d, 0).MatMul(dst, x, w, s, 1, Placement{}); err == nil || !strings.Contains(err.Error(), "gain") {
				t.Errorf("%T with gain %g: error %v, want a gain error", d, g, err)
			}
		}
	}
	if err := withKeys(&Chip{}, 0).MatMul(dst, x, w, s, 1, Placement{}); err == nil || !strings.Contains(err.Error(), "NewChip") {
		t.Errorf("zero Chip: error %v, want one pointing to NewChip", err)
	}
}

// TestSpecEqual: Specs are equal by value, not by the memory their
// pointer fields share, and any field makes a difference.
func TestSpecEqual(t *testing.T) {
	a, _ := Preset(KindChip, 1)
	b, _ := Preset(KindChip, 1)
	if a.ChipSeed == b.ChipSeed || !a.Equal(b) {
		t.Fatalf("two presets of chip 1: equal %v", a.Equal(b))
	}
	c, _ := Preset(KindChip, 2)
	if a.Equal(c) {
		t.Error("chip 1 equals chip 2")
	}
	d := b
	cfg := *b.Chip
	cfg.ColumnGainStd *= 2
	d.Chip = &cfg
	if a.Equal(d) {
		t.Error("a chip configuration change goes unnoticed")
	}
	e := a
	e.Base, e.Calibration = &b, "sha256:00"
	if a.Equal(e) {
		t.Error("a calibrated device equals its base")
	}
}
