package calib

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// layer is a random layer as training produces them: weights of std ~20,
// inputs 0..31 with many zeros.
type layer struct {
	rows, cols, batch int
	w                 []int8
	x                 []uint8
	place             analogmac.Placement
}

func randomLayer(seed uint64, rows, cols, batch int, place analogmac.Placement) layer {
	rng := rand.New(rand.NewPCG(seed, 3))
	l := layer{rows: rows, cols: cols, batch: batch, place: place, w: make([]int8, rows*cols), x: make([]uint8, batch*rows)}
	for i := range l.w {
		l.w[i] = int8(max(-63, min(63, math.Round(14*rng.NormFloat64()))))
	}
	for i := range l.x {
		if rng.IntN(3) > 0 {
			l.x[i] = uint8(rng.IntN(12))
		}
	}
	return l
}

// meanOut runs l on d n times (keys 0..n-1) and returns the mean output.
func meanOut(t *testing.T, d analogmac.Device, l layer, sends, n int) []float64 {
	t.Helper()
	ctx := context.Background()
	p, err := d.Program(ctx, analogmac.Matrix{Rows: l.rows, Cols: l.cols, Weights: l.w, Sends: sends, Placement: l.place})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	y := make([]int8, l.batch*l.cols)
	m := make([]float64, len(y))
	for k := range n {
		if err := p.Run(ctx, y, l.x, l.batch, uint64(k)); err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			m[i] += float64(v) / float64(n)
		}
	}
	return m
}

func rmsDiff(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s / float64(len(a)))
}

// The corrected chip is much closer to the ideal device than the chip is,
// on single-block and multi-block layers, and correcting the weights too
// brings it closer still.
func TestCorrectedApproachesIdeal(t *testing.T) {
	chip, cal := characterized(t, 1, analogmac.DefaultChipConfig())
	ideal := analogmac.NewIdeal()
	cols, err := NewCorrected(chip, cal, CorrectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	both, err := NewCorrected(chip, cal, CorrectOptions{Weights: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []layer{
		randomLayer(1, 100, 20, 64, analogmac.Placement{}),
		randomLayer(2, 500, 128, 32, analogmac.Placement{Column: 256}),
		randomLayer(3, 128, 10, 64, analogmac.Placement{Column: 32, Row: 0}),
	} {
		want := meanOut(t, ideal, l, 3, 1)
		raw := rmsDiff(meanOut(t, chip, l, 3, 8), want)
		c1 := rmsDiff(meanOut(t, cols, l, 3, 8), want)
		c2 := rmsDiff(meanOut(t, both, l, 3, 8), want)
		t.Logf("%dx%d: rms distance to ideal: chip %.2f, corrected columns %.2f, columns+weights %.2f LSB", l.rows, l.cols, raw, c1, c2)
		if !(c1 < raw/2) || !(c2 < c1) {
			t.Errorf("%dx%d: rms distance to ideal: chip %.2f, corrected %.2f, with weights %.2f: want corrected < chip/2 and weights to help", l.rows, l.cols, raw, c1, c2)
		}
	}
}

// The twin reproduces its chip's mean outputs far better than a device
// without its fixed pattern does, and its noise is the fitted one.
func TestTwinMatchesChip(t *testing.T) {
	chip, cal := characterized(t, 2, analogmac.DefaultChipConfig())
	twin, err := NewTwin(cal)
	if err != nil {
		t.Fatal(err)
	}
	noSyn := *cal
	noSyn.Synapses = nil
	twinCols, _ := NewTwin(&noSyn)
	for _, l := range []layer{
		randomLayer(4, 100, 20, 64, analogmac.Placement{}),
		randomLayer(5, 500, 128, 32, analogmac.Placement{Column: 256}),
	} {
		want := meanOut(t, chip, l, 3, 16)
		mock := rmsDiff(meanOut(t, analogmac.NewMock(), l, 3, 16), want)
		cols := rmsDiff(meanOut(t, twinCols, l, 3, 16), want)
		full := rmsDiff(meanOut(t, twin, l, 3, 16), want)
		t.Logf("%dx%d: rms distance of the mean outputs to the chip's: mock %.2f, twin (columns) %.2f, twin %.2f LSB", l.rows, l.cols, mock, cols, full)
		if !(full < mock/3) || !(full < cols) {
			t.Errorf("%dx%d: twin %.2f, twin without synapses %.2f, mock %.2f LSB from the chip", l.rows, l.cols, full, cols, mock)
		}
	}
	// Noise: the std over keys of one output is the column's.
	ctx := context.Background()
	l := randomLayer(6, 64, 512, 1, analogmac.Placement{})
	p, err := twin.Program(ctx, analogmac.Matrix{Rows: l.rows, Cols: l.cols, Weights: l.w, Sends: 1})
	if err != nil {
		t.Fatal(err)
	}
	y := make([]int8, l.cols)
	var s, ss [512]float64
	const n = 200
	for k := range n {
		if err := p.Run(ctx, y, l.x, 1, uint64(k)); err != nil {
			t.Fatal(err)
		}
		for c, v := range y {
			s[c] += float64(v)
			ss[c] += float64(v) * float64(v)
		}
	}
	var got, want float64
	for c := range 512 {
		m := s[c] / n
		got += math.Sqrt(ss[c]/n-m*m) / 512
		want += math.Sqrt(cal.Columns[c].Noise*cal.Columns[c].Noise+1.0/12) / 512
	}
	if math.Abs(got-want) > 0.05 {
		t.Errorf("twin noise %.3f LSB (with the floor), the calibration's %.3f", got, want)
	}
}

// The devices keep the contract: the same key gives the same outputs
// whatever GOMAXPROCS, Update equals programming anew, errors are
// ErrInvalid and ErrClosed.
func TestDevicesContract(t *testing.T) {
	chip, cal := characterized(t, 1, analogmac.DefaultChipConfig())
	twin, _ := NewTwin(cal)
	corr, _ := NewCorrected(chip, cal, CorrectOptions{Weights: true})
	ctx := context.Background()
	l := randomLayer(7, 300, 40, 37, analogmac.Placement{Column: 100})
	l2 := randomLayer(8, 300, 40, 37, analogmac.Placement{Column: 100})
	for _, d := range []struct {
		name string
		dev  analogmac.Device
	}{{"twin", twin}, {"corrected", corr}} {
		t.Run(d.name, func(t *testing.T) {
			m := analogmac.Matrix{Rows: l.rows, Cols: l.cols, Weights: l.w, Sends: 2, Placement: l.place}
			run := func(p analogmac.Program, key uint64) []int8 {
				y := make([]int8, l.batch*l.cols)
				if err := p.Run(ctx, y, l.x, l.batch, key); err != nil {
					t.Fatal(err)
				}
				return y
			}
			p, err := d.dev.Program(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			a := run(p, 42)
			prev := runtime.GOMAXPROCS(1)
			b := run(p, 42)
			runtime.GOMAXPROCS(prev)
			if !slices.Equal(a, b) {
				t.Error("the same key gave other outputs on one goroutine")
			}
			if c := run(p, 43); slices.Equal(a, c) {
				t.Error("another key gave the same outputs")
			}
			u, ok := p.(analogmac.Updater)
			if !ok {
				t.Fatal("no Updater")
			}
			if err := u.Update(ctx, l2.w); err != nil {
				t.Fatal(err)
			}
			m2 := m
			m2.Weights = l2.w
			p2, err := d.dev.Program(ctx, m2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(run(p, 5), run(p2, 5)) {
				t.Error("Update differs from programming the new weights")
			}
			bad := slices.Clone(l.w)
			bad[3] = 64
			if err := u.Update(ctx, bad); !errors.Is(err, analogmac.ErrInvalid) {
				t.Errorf("weight 64: %v", err)
			}
			m3 := m
			m3.Sends = 0
			if _, err := d.dev.Program(ctx, m3); !errors.Is(err, analogmac.ErrInvalid) {
				t.Errorf("sends 0: %v", err)
			}
			if err := p.Run(ctx, make([]int8, 3), l.x, l.batch, 0); !errors.Is(err, analogmac.ErrInvalid) {
				t.Errorf("short output: %v", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := p.Run(cctx, make([]int8, l.batch*l.cols), l.x, l.batch, 0); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled context: %v", err)
			}
			p.Close()
			if err := p.Run(ctx, make([]int8, l.batch*l.cols), l.x, l.batch, 0); !errors.Is(err, analogmac.ErrClosed) {
				t.Errorf("closed program: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
	if _, err := NewCorrected(chip, synthetic(false), CorrectOptions{Weights: true}); err == nil {
		t.Error("weight correction without synapse factors accepted")
	}
	if _, err := NewCorrected(&analogmac.Ideal{GainPerSend: 0.002}, cal, CorrectOptions{}); err == nil {
		t.Error("a device of another gain accepted")
	}
	bad := *cal
	bad.Columns = bad.Columns[:3]
	if _, err := NewTwin(&bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("a twin of an invalid calibration: %v", err)
	}
	twin.Close()
	if _, err := twin.Program(ctx, analogmac.Matrix{Rows: 1, Cols: 1, Weights: []int8{1}, Sends: 1}); !errors.Is(err, analogmac.ErrClosed) {
		t.Errorf("program on a closed twin: %v", err)
	}
}

func TestSatInverse(t *testing.T) {
	pos, neg := Branch{Linear: 80, Headroom: 64}, Branch{Linear: 70, Headroom: 40}
	for v := -300.0; v <= 300; v += 0.5 {
		s := sat(v, pos, neg)
		if got := unsat(s, pos, neg); math.Abs(got-v) > 1e-6*math.Max(1, math.Abs(v)) {
			t.Fatalf("unsat(sat(%g)) = %g", v, got)
		}
	}
	if got := unsat(200, pos, neg); math.IsInf(got, 0) || math.IsNaN(got) {
		t.Fatalf("beyond the asymptote: %g", got)
	}
}
