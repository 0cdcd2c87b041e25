package calib

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// Tolerances of the fit against a simulated chip's hidden parameters with
// the default protocol (docs/calibration.md states them). Measured on
// chips 1 and 2 at the default magnitudes and chip 3 at twice them: the
// largest errors are about half of these.
const (
	tolGainEffMax = 0.02 // relative, vs the gain the average synapse sees: g_c * mean(1 + m)
	tolGainEffRMS = 0.005
	// vs g_c alone the mean mismatch of the column's 256 synapses, std
	// m/16, is part of what is measured: tolGainMax + 4 m/16.
	tolGainMax   = 0.005
	tolOffsetMax = 0.5 // LSB
	tolOffsetRMS = 0.15
	tolLinearRMS = 2.5 // LSB
	tolLinearMax = 15
	// hiddenCurve is the least curvature (LSB) the hidden saturation must
	// show before the ADC clamp for its linear range to be compared: the
	// clamp hides the saturation of columns with a wide linear range on
	// the side their offset works against.
	hiddenCurve = 4
	tolNoiseMax = 0.25 // LSB, vs the configured trial noise
	tolSynRMS   = 0.02 // relative, vs g_c * (1 + m_rc)
	tolSynMax   = 0.10
)

var (
	calMu    sync.Mutex
	calCache = map[string]*Calibration{}
)

// characterized characterises chip seed with cfg once per test binary.
func characterized(t *testing.T, seed uint64, cfg analogmac.ChipConfig) (*analogmac.Chip, *Calibration) {
	t.Helper()
	chip, err := analogmac.NewChip(seed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%d/%+v", seed, cfg)
	calMu.Lock()
	defer calMu.Unlock()
	if c, ok := calCache[key]; ok {
		return chip, c
	}
	c, err := Characterize(context.Background(), chip, DefaultProtocol(chip.Gain()))
	if err != nil {
		t.Fatal(err)
	}
	calCache[key] = c
	return chip, c
}

type errStats struct {
	sum2, max float64
	n         int
}

func (e *errStats) add(v float64) {
	e.sum2 += v * v
	e.max = math.Max(e.max, math.Abs(v))
	e.n++
}
func (e *errStats) rms() float64 { return math.Sqrt(e.sum2 / float64(e.n)) }

func TestFitMatchesHiddenParameters(t *testing.T) {
	def := analogmac.DefaultChipConfig()
	double := def
	double.ColumnGainStd *= 2
	double.ColumnOffsetStd *= 2
	double.SynapseMismatchStd *= 2
	cases := []struct {
		seed uint64
		cfg  analogmac.ChipConfig
	}{{1, def}, {2, def}, {3, double}}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("chip%d", tc.seed), func(t *testing.T) {
			h := rebuild(tc.seed, tc.cfg)
			checkRebuild(t, tc.seed, tc.cfg, h)
			_, cal := characterized(t, tc.seed, tc.cfg)
			var gEff, g, off, lin, syn errStats
			hidden := 0
			for c, col := range cal.Columns {
				var ms float64
				for s := range 2 {
					for r := range analogmac.BlockRows {
						ms += h.syn[s][r][c]
					}
				}
				ms /= 2 * analogmac.BlockRows
				gEff.add(col.Gain/(h.gain[c]*ms) - 1)
				g.add(col.Gain/h.gain[c] - 1)
				off.add(col.Offset - h.off[c])
				for _, b := range []struct {
					fit  Branch
					edge float64 // the largest output no repeat clamps: 3 noise stds inside the ADC's clamp
				}{{col.Pos, 127 - 3*tc.cfg.TrialNoiseStd}, {col.Neg, 128 - 3*tc.cfg.TrialNoiseStd}} {
					if curvature(h.lin[c], tc.cfg.SaturationHeadroom, b.edge) < hiddenCurve {
						hidden++
						if b.fit.Linear != NoSaturation && math.Abs(b.fit.Linear-h.lin[c]) > tolLinearMax {
							t.Errorf("column %d: linear range %.1f where the clamp hides one of %.1f", c, b.fit.Linear, h.lin[c])
						}
						continue
					}
					lin.add(b.fit.Linear - h.lin[c])
				}
				if d := math.Abs(col.Noise - tc.cfg.TrialNoiseStd); d > tolNoiseMax {
					t.Errorf("column %d: noise %.3f, configured %.3f", c, col.Noise, tc.cfg.TrialNoiseStd)
				}
				for s, tab := range [][][]int16{cal.Synapses.Excitatory, cal.Synapses.Inhibitory} {
					for r := range analogmac.BlockRows {
						f := (1 + float64(tab[r][c])*SynapseScale) * col.Gain
						syn.add(f/(h.gain[c]*h.syn[s][r][c]) - 1)
					}
				}
			}
			t.Logf("gain vs effective: rms %.4f max %.4f; vs g_c: rms %.4f max %.4f; offset rms %.3f max %.3f LSB; linear rms %.2f max %.2f LSB (%d branches hidden by the clamp); synapses rms %.4f max %.4f",
				gEff.rms(), gEff.max, g.rms(), g.max, off.rms(), off.max, lin.rms(), lin.max, hidden, syn.rms(), syn.max)
			if hidden > 8 {
				t.Errorf("%d branches hidden by the clamp: the protocol's coarse ladder no longer shows saturation", hidden)
			}
			check := func(name string, got, tol float64) {
				if !(got <= tol) {
					t.Errorf("%s = %.4g: want at most %g", name, got, tol)
				}
			}
			check("gain error (effective) max", gEff.max, tolGainEffMax)
			check("gain error (effective) rms", gEff.rms(), tolGainEffRMS)
			check("gain error (g_c) max", g.max, tolGainMax+4*tc.cfg.SynapseMismatchStd/16)
			check("offset error max", off.max, tolOffsetMax)
			check("offset error rms", off.rms(), tolOffsetRMS)
			check("linear range error rms", lin.rms(), tolLinearRMS)
			check("linear range error max", lin.max, tolLinearMax)
			check("synapse factor error rms", syn.rms(), tolSynRMS)
			check("synapse factor error max", syn.max, tolSynMax)
		})
	}
}

// curvature is how far below the straight line a saturation of linear
// range l and headroom h has fallen where its output reaches edge (the
// largest output the protocol sees unclamped): 0 when l >= edge.
func curvature(l, h, edge float64) float64 {
	if l >= edge {
		return 0
	}
	s := edge - l // output beyond l at the clamp
	if s >= h {
		return math.Inf(1)
	}
	d := s / (1 - s/h) // input beyond l
	return d - s
}

// The fit must see what is there and nothing else: the mock has no fixed
// pattern and no saturation.
func TestCharacterizeMock(t *testing.T) {
	m := analogmac.NewMock()
	cal, err := Characterize(context.Background(), m, DefaultProtocol(m.Gain()))
	if err != nil {
		t.Fatal(err)
	}
	for c, col := range cal.Columns {
		if math.Abs(col.Gain-1) > 0.01 || math.Abs(col.Offset) > 0.3 || math.Abs(col.Noise-m.NoiseStd) > 0.25 {
			t.Fatalf("column %d of the mock: gain %.4f offset %.3f noise %.3f: want 1, 0, %.1f", c, col.Gain, col.Offset, col.Noise, m.NoiseStd)
		}
		if col.Pos.Linear != NoSaturation || col.Neg.Linear != NoSaturation {
			t.Fatalf("column %d of the mock: fitted saturation %+v %+v where there is none", c, col.Pos, col.Neg)
		}
	}
	if cal.Summary.SynapseStd > 0.02 {
		t.Errorf("the mock's synapse factors spread by %.4f: it has no mismatch", cal.Summary.SynapseStd)
	}
	if cal.Device.Kind != analogmac.KindMock {
		t.Errorf("device recorded as %q", cal.Device.Kind)
	}
}

func TestCharacterizeCost(t *testing.T) {
	_, cal := characterized(t, 1, analogmac.DefaultChipConfig())
	p := cal.Protocol
	c := cal.Cost.Counts
	wantVectors := int64(4*p.CurveRepeats*curveInputs + 2*p.ProbeRepeats*(analogmac.BlockRows+p.ProbeZeros))
	if c.Programs != 6 || c.Runs != int64(4*p.CurveRepeats+2*p.ProbeRepeats) || c.Vectors != wantVectors || c.Integrations != wantVectors {
		t.Errorf("cost %+v: want 6 programs, %d runs, %d vectors and integrations", c, 4*p.CurveRepeats+2*p.ProbeRepeats, wantVectors)
	}
	// Events: every curve vector x sends 128 rows x (value != 0); each
	// probe one row.
	var ev int64
	for _, s := range []Setting{p.Fine, p.Coarse} {
		ev += 2 * int64(p.CurveRepeats) * int64(curveInputs-1) * analogmac.BlockRows * int64(s.Sends)
	}
	ev += 2 * int64(p.ProbeRepeats) * analogmac.BlockRows * int64(p.ProbeSends)
	if c.Events != ev {
		t.Errorf("events %d, want %d", c.Events, ev)
	}
	if cal.Cost.Seconds <= 0 || cal.Cost.Seconds != cal.Cost.Model.Seconds(c) {
		t.Errorf("cost seconds %g, model says %g", cal.Cost.Seconds, cal.Cost.Model.Seconds(c))
	}
}

func TestCharacterizeRefuses(t *testing.T) {
	ctx := context.Background()
	chip, _ := analogmac.NewChip(1, analogmac.DefaultChipConfig())
	bad := DefaultProtocol(chip.Gain())
	bad.CurveRepeats = 1
	if _, err := Characterize(ctx, chip, bad); err == nil {
		t.Error("one repeat accepted")
	}
	bad = DefaultProtocol(chip.Gain())
	bad.ProbeSends = 0
	if _, err := Characterize(ctx, chip, bad); err == nil {
		t.Error("probe sends 0 accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Characterize(cctx, chip, DefaultProtocol(chip.Gain())); err == nil {
		t.Error("a cancelled context was ignored")
	}
	chip.Close()
	if _, err := Characterize(ctx, chip, DefaultProtocol(chip.Gain())); err == nil {
		t.Error("a closed chip was characterised")
	}
}

// DefaultProtocol sizes the ladders from the gain: other gains get other
// weights and sends that reach the same nominal outputs.
func TestDefaultProtocolScales(t *testing.T) {
	for _, g := range []float64{0.0015, 0.0018, 0.002, 0.01} {
		p := DefaultProtocol(g)
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		top := func(s Setting) float64 {
			return g * float64(s.Weight*s.Sends*analogmac.BlockRows*analogmac.InputMax)
		}
		if f := top(p.Fine); f < 60 || f > 200 {
			t.Errorf("gain %g: the fine ladder tops at %.0f LSB", g, f)
		}
		if c := top(p.Coarse); c < 300 {
			t.Errorf("gain %g: the coarse ladder tops at %.0f LSB: no saturation reached", g, c)
		}
		if pr := g * float64(p.ProbeWeight*p.ProbeInput*p.ProbeSends); pr < 15 || pr > 50 {
			t.Errorf("gain %g: a probe's nominal output is %.0f LSB", g, pr)
		}
	}
}
