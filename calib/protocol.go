package calib

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chiptime"
)

// Protocol says how Characterize measures a device. Every run uses the
// whole array: a 128 x 512 matrix placed at row 0, column 0.
//
// Transfer curves: for each of the fine and the coarse setting and each
// sign, every weight of the array is set to ±Weight and the 32 input
// vectors "value x on all 128 rows", x = 0..31, are run CurveRepeats times
// with Sends sends. Each column then has 32 points per sign on a ladder of
// nominal outputs: the fine one through the linear range, the coarse one
// deep into saturation.
//
// Synapse probes (when Synapses is set): every weight ±ProbeWeight; 128
// input vectors that each drive one row with ProbeInput (all others 0) and
// ProbeZeros vectors of zeros, run ProbeRepeats times with ProbeSends
// sends. The difference between a row's output and the zeros' isolates
// that row's synapse in every column at once.
type Protocol struct {
	CurveRepeats int     `json:"curve_repeats"`
	Fine         Setting `json:"fine"`
	Coarse       Setting `json:"coarse"`
	Synapses     bool    `json:"synapses"`
	ProbeRepeats int     `json:"probe_repeats,omitempty"`
	ProbeWeight  int     `json:"probe_weight,omitempty"`
	ProbeInput   int     `json:"probe_input,omitempty"`
	ProbeSends   int     `json:"probe_sends,omitempty"`
	ProbeZeros   int     `json:"probe_zeros,omitempty"`
	// Noise seeds the noise keys of the runs (analogmac.NewNoiseKeys).
	Noise uint64 `json:"noise_seed"`
}

// Setting is one rung of the transfer-curve ladder: weight magnitude and
// sends.
type Setting struct {
	Weight int `json:"weight"`
	Sends  int `json:"sends"`
}

// Targets of the default protocol, in nominal output LSB.
const (
	fineTop   = 120 // the fine ladder's top: through the published ±80 linear range
	coarseTop = 450 // the coarse ladder's top: far into saturation
	probeTop  = 30  // a probed synapse's nominal output: inside every column's linear range
)

// DefaultProtocol returns the protocol for a device of nominal gain per
// send gain: ladders and probes sized so that the nominal outputs reach
// fineTop, coarseTop and probeTop LSB.
func DefaultProtocol(gain float64) Protocol {
	perInput := gain * analogmac.BlockRows * analogmac.InputMax // per unit weight and send, at x = 31
	clampInt := func(v float64, lo, hi int) int { return max(lo, min(hi, int(math.Round(v)))) }
	return Protocol{
		CurveRepeats: 20,
		Fine:         Setting{Weight: clampInt(fineTop/perInput, 1, analogmac.WeightMax), Sends: 1},
		Coarse:       Setting{Weight: analogmac.WeightMax, Sends: clampInt(coarseTop/(perInput*analogmac.WeightMax), 1, analogmac.MaxSends)},
		Synapses:     true,
		ProbeRepeats: 32,
		ProbeWeight:  analogmac.WeightMax,
		ProbeInput:   analogmac.InputMax,
		ProbeSends:   clampInt(probeTop/(gain*analogmac.WeightMax*analogmac.InputMax), 1, analogmac.MaxSends),
		ProbeZeros:   8,
	}
}

// Validate reports settings no device accepts or no fit can use.
func (p Protocol) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("protocol.%s: %v: want %s", field, v, want)
	}
	if p.CurveRepeats < 2 || p.CurveRepeats > 10000 {
		return bad("curve_repeats", p.CurveRepeats, "2..10000 (a std needs two)")
	}
	for _, s := range []struct {
		name string
		s    Setting
	}{{"fine", p.Fine}, {"coarse", p.Coarse}} {
		if s.s.Weight < 1 || s.s.Weight > analogmac.WeightMax {
			return bad(s.name+".weight", s.s.Weight, fmt.Sprintf("1..%d", analogmac.WeightMax))
		}
		if s.s.Sends < 1 || s.s.Sends > analogmac.MaxSends {
			return bad(s.name+".sends", s.s.Sends, fmt.Sprintf("1..%d", analogmac.MaxSends))
		}
	}
	if !p.Synapses {
		if p.ProbeRepeats != 0 || p.ProbeWeight != 0 || p.ProbeInput != 0 || p.ProbeSends != 0 || p.ProbeZeros != 0 {
			return bad("probe_*", "set", "zero values when synapses is false")
		}
		return nil
	}
	switch {
	case p.ProbeRepeats < 1 || p.ProbeRepeats > 10000:
		return bad("probe_repeats", p.ProbeRepeats, "1..10000")
	case p.ProbeWeight < 1 || p.ProbeWeight > analogmac.WeightMax:
		return bad("probe_weight", p.ProbeWeight, fmt.Sprintf("1..%d", analogmac.WeightMax))
	case p.ProbeInput < 1 || p.ProbeInput > analogmac.InputMax:
		return bad("probe_input", p.ProbeInput, fmt.Sprintf("1..%d", analogmac.InputMax))
	case p.ProbeSends < 1 || p.ProbeSends > analogmac.MaxSends:
		return bad("probe_sends", p.ProbeSends, fmt.Sprintf("1..%d", analogmac.MaxSends))
	case p.ProbeZeros < 1 || p.ProbeZeros > 1024:
		return bad("probe_zeros", p.ProbeZeros, "1..1024")
	}
	return nil
}

// curveInputs is the number of input values of a ladder: 0..InputMax.
const curveInputs = analogmac.InputMax + 1

// stats accumulates one output's mean and variance over repeats and
// whether any repeat hit the ADC's clamp.
type stats struct {
	n, sum, sumsq float64
	clamped       bool
}

func (s *stats) add(y int8) {
	v := float64(y)
	s.n++
	s.sum += v
	s.sumsq += v * v
	if y == analogmac.OutputMax || y == analogmac.OutputMin {
		s.clamped = true
	}
}

func (s *stats) mean() float64 { return s.sum / s.n }

// variance is the sample variance (0 for fewer than two samples).
func (s *stats) variance() float64 {
	if s.n < 2 {
		return 0
	}
	m := s.mean()
	return math.Max(0, (s.sumsq-s.n*m*m)/(s.n-1))
}

// measurements hold everything Characterize reads from the device.
type measurements struct {
	// curves[setting][sign][x*ArrayCols + c]: setting 0 fine, 1 coarse;
	// sign 0 positive weights, 1 negative.
	curves [2][2][]stats
	// probes[sign][r*ArrayCols + c] and zeros[sign][c].
	probes [2][]stats
	zeros  [2][]stats
}

// Characterize measures every physical column of d (and, with
// p.Synapses, every synapse) following p and fits the column model. It
// reads nothing but d's outputs: the fit never sees a simulated chip's
// hidden parameters. The chip calls it makes are counted into the
// result's Cost (with chiptime.Default).
func Characterize(ctx context.Context, d analogmac.Device, p Protocol) (*Calibration, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	gain := d.Gain()
	if !finiteIn(gain, 1e-9, 1) {
		return nil, fmt.Errorf("calib: the device's nominal gain %g: want a finite value in (0, 1]", gain)
	}
	meter := chiptime.NewMeter(d)
	keys := analogmac.NewNoiseKeys(p.Noise)
	var ms measurements
	for si, s := range []Setting{p.Fine, p.Coarse} {
		for sign := range 2 {
			st, err := measureCurve(ctx, meter, s, sign, p.CurveRepeats, keys)
			if err != nil {
				return nil, fmt.Errorf("calib: characterize: %w", err)
			}
			ms.curves[si][sign] = st
		}
	}
	if p.Synapses {
		for sign := range 2 {
			pr, z, err := measureProbes(ctx, meter, p, sign, keys)
			if err != nil {
				return nil, fmt.Errorf("calib: characterize: %w", err)
			}
			ms.probes[sign], ms.zeros[sign] = pr, z
		}
	}
	model := chiptime.Default()
	cal := &Calibration{
		Format: FormatName, Version: Version,
		Device: analogmac.Describe(d), GainPerSend: gain, Protocol: p,
		Cost:    Cost{Counts: meter.Counts(), Model: model},
		Columns: make([]Column, analogmac.ArrayCols),
	}
	cal.Cost.Seconds = model.Seconds(cal.Cost.Counts)
	fitColumns(cal, &ms)
	if p.Synapses {
		cal.Synapses = fitSynapses(cal, &ms)
	}
	cal.Summary = summarize(cal)
	if err := cal.Validate(); err != nil {
		return nil, fmt.Errorf("calib: the fit gave an invalid calibration (is the device working?): %w", err)
	}
	return cal, nil
}

// uniform returns a BlockRows x ArrayCols matrix of weight w everywhere.
func uniform(w int, sends int) analogmac.Matrix {
	ws := make([]int8, analogmac.BlockRows*analogmac.ArrayCols)
	for i := range ws {
		ws[i] = int8(w)
	}
	return analogmac.Matrix{Rows: analogmac.BlockRows, Cols: analogmac.ArrayCols, Weights: ws, Sends: sends}
}

func measureCurve(ctx context.Context, d analogmac.Device, s Setting, sign, repeats int, keys *analogmac.NoiseKeys) ([]stats, error) {
	w := s.Weight
	if sign == 1 {
		w = -w
	}
	prog, err := d.Program(ctx, uniform(w, s.Sends))
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	const rows, cols = analogmac.BlockRows, analogmac.ArrayCols
	x := make([]uint8, curveInputs*rows)
	for v := range curveInputs {
		for r := range rows {
			x[v*rows+r] = uint8(v)
		}
	}
	y := make([]int8, curveInputs*cols)
	st := make([]stats, curveInputs*cols)
	for range repeats {
		if err := prog.Run(ctx, y, x, curveInputs, keys.Next()); err != nil {
			return nil, err
		}
		for i, v := range y {
			st[i].add(v)
		}
	}
	return st, nil
}

func measureProbes(ctx context.Context, d analogmac.Device, p Protocol, sign int, keys *analogmac.NoiseKeys) (probes, zeros []stats, err error) {
	w := p.ProbeWeight
	if sign == 1 {
		w = -w
	}
	prog, err := d.Program(ctx, uniform(w, p.ProbeSends))
	if err != nil {
		return nil, nil, err
	}
	defer prog.Close()
	const rows, cols = analogmac.BlockRows, analogmac.ArrayCols
	batch := rows + p.ProbeZeros
	x := make([]uint8, batch*rows)
	for r := range rows {
		x[r*rows+r] = uint8(p.ProbeInput)
	}
	y := make([]int8, batch*cols)
	probes = make([]stats, rows*cols)
	zeros = make([]stats, cols)
	for range p.ProbeRepeats {
		if err := prog.Run(ctx, y, x, batch, keys.Next()); err != nil {
			return nil, nil, err
		}
		for i, v := range y[:rows*cols] {
			probes[i].add(v)
		}
		for z := range p.ProbeZeros {
			for c, v := range y[(rows+z)*cols:][:cols] {
				zeros[c].add(v)
			}
		}
	}
	return probes, zeros, nil
}

// forColumns calls f for every physical column on GOMAXPROCS goroutines;
// f must only write column c's results.
func forColumns(f func(c int)) {
	n := analogmac.ArrayCols
	parts := max(1, min(runtime.GOMAXPROCS(0), n))
	var wg sync.WaitGroup
	for k := range parts {
		wg.Go(func() {
			for c := k * n / parts; c < (k+1)*n/parts; c++ {
				f(c)
			}
		})
	}
	wg.Wait()
}
