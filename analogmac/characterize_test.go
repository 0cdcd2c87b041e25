package analogmac

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// floorNoise is the std of floor(v + N(0, sigma)) for v spread over the
// LSB: the quantisation adds 1/12 LSB^2.
func floorNoise(sigma float64) float64 { return math.Sqrt(sigma*sigma + 1.0/12) }

func within(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*math.Abs(want) {
		t.Errorf("%s: measured %.5g, want %.5g within %.0f%%", what, got, want, 100*rel)
	} else {
		t.Logf("%s: measured %.5g, want %.5g within %.0f%%", what, got, want, 100*rel)
	}
}

func TestCharacterizeIdeal(t *testing.T) {
	ch, err := Characterize(context.Background(), NewIdeal(), CharacterizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := ch.Params
	if p.TrialNoise != 0 || p.ColumnOffsetSpread != 0 {
		t.Errorf("ideal: trial noise %g, offset spread %g, want exactly 0", p.TrialNoise, p.ColumnOffsetSpread)
	}
	within(t, "ideal gain", p.Gain, DefaultGain, 0.005)
	if p.FixedPatternSpread > 0.4 { // only the floor's rounding
		t.Errorf("ideal: fixed-pattern spread %g, want < 0.4", p.FixedPatternSpread)
	}
	// Saturation at the ADC only: input 7, weight 63 is 203 nominal.
	if last := ch.Mean[2][len(ch.Weights)-1]; last != OutputMax {
		t.Errorf("ideal: input 7 weight 63 gives %g, want %d", last, OutputMax)
	}
	if len(ch.Weights) != 127 || ch.Weights[0] != -63 || ch.Weights[126] != 63 {
		t.Errorf("weights %v", ch.Weights)
	}
}

func TestCharacterizeMock(t *testing.T) {
	for _, sigma := range []float64{DefaultMockNoise, 3} {
		m := NewMock()
		m.NoiseStd = sigma
		ch, err := Characterize(context.Background(), m, CharacterizeOptions{Noise: 2})
		if err != nil {
			t.Fatal(err)
		}
		p := ch.Params
		within(t, "mock gain", p.Gain, DefaultGain, 0.01)
		within(t, "mock trial noise", p.TrialNoise, floorNoise(sigma), 0.05)
		// No fixed pattern: what remains is the noise of a 30-run mean.
		if lim := 1.5 * sigma / math.Sqrt(CharacterizationRepeats); p.FixedPatternSpread > lim || p.ColumnOffsetSpread > lim {
			t.Errorf("mock: fixed-pattern spread %g, offset spread %g, want < %g", p.FixedPatternSpread, p.ColumnOffsetSpread, lim)
		}
	}
}

// TestCharacterizeChip checks the measured parameters twice: against the
// pattern this chip actually drew (tight), and against the configured
// magnitudes (looser: 127 columns are a small sample).
func TestCharacterizeChip(t *testing.T) {
	configs := map[string]func(*ChipConfig){
		"default": nil,
		"larger": func(c *ChipConfig) {
			c.ColumnGainStd, c.ColumnOffsetStd, c.TrialNoiseStd = 0.1, 6, 2.5
		},
	}
	for name, edit := range configs {
		for _, seed := range []uint64{1, 2} {
			c := newChip(t, seed, 7, edit)
			cfg := c.Config()
			ch, err := Characterize(context.Background(), c.Chip, CharacterizeOptions{Noise: 7})
			if err != nil {
				t.Fatal(err)
			}
			p := ch.Params
			// What the measurement should give for the pattern this chip
			// drew: the same analysis of the expected means, each column's
			// gain times its rows' mean synapse factor for the sign, plus its
			// offset, less the floor's 0.5 LSB.
			cols := len(ch.Weights)
			eff := make([]float64, cols)
			exp := *ch
			exp.Mean = make([][]float64, len(ch.Inputs))
			for i := range ch.Inputs {
				exp.Mean[i] = make([]float64, cols)
			}
			for col, wt := range ch.Weights {
				sy := 0
				if wt < 0 {
					sy = 1
				}
				var m float64
				for r := range BlockRows {
					m += float64(c.synapse[2*(r*ArrayCols+col)+sy])
				}
				eff[col] = c.colGain[col] * m / BlockRows
				for i := range ch.Inputs {
					v := cfg.GainPerSend*eff[col]*ch.product(i, col) + c.colOffset[col]
					exp.Mean[i][col] = saturate(v, c.colLinear[col], 1/cfg.SaturationHeadroom) - 0.5
				}
			}
			e := exp.measure(c.Gain())
			t.Logf("%s seed %d: measured %+v", name, seed, p)
			t.Logf("%s seed %d: expected %+v", name, seed, e)
			within(t, "gain vs drawn", p.Gain, e.Gain, 0.01)
			within(t, "gain vs configured", p.Gain, cfg.GainPerSend, 0.05)
			within(t, "trial noise vs configured", p.TrialNoise, floorNoise(cfg.TrialNoiseStd), 0.06)
			within(t, "offset spread vs drawn", p.ColumnOffsetSpread, e.ColumnOffsetSpread, 0.05)
			within(t, "offset spread vs configured", p.ColumnOffsetSpread, cfg.ColumnOffsetStd, 0.25)
			within(t, "gain spread vs drawn", p.ColumnGainSpread, e.ColumnGainSpread, 0.15)
			within(t, "gain spread vs configured", p.ColumnGainSpread, cfg.ColumnGainStd, 0.4)
			within(t, "fixed-pattern spread vs drawn", p.FixedPatternSpread, e.FixedPatternSpread, 0.05)
			// The claim: fixed-pattern deviations exceed the noise.
			if p.FixedPatternSpread < 1.5*p.TrialNoise {
				t.Errorf("fixed-pattern spread %g not above 1.5 x trial noise %g", p.FixedPatternSpread, p.TrialNoise)
			}
		}
	}
}

func TestCharacterizeArguments(t *testing.T) {
	ctx := context.Background()
	if _, err := Characterize(ctx, NewIdeal(), CharacterizeOptions{Repeats: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("1 repeat: got %v, want ErrInvalid", err)
	}
	if _, err := Characterize(ctx, NewIdeal(), CharacterizeOptions{Repeats: 5, Sends: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("-1 sends: got %v, want ErrInvalid", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Characterize(cctx, NewIdeal(), CharacterizeOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: got %v", err)
	}
}

func TestCharacterizationFiles(t *testing.T) {
	c := newChip(t, 1, 1, nil)
	ch, err := Characterize(context.Background(), c.Chip, CharacterizeOptions{Repeats: 4, Noise: 1})
	if err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	if err := ch.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	if lines[0] != "column,weight,input,mean,std" || len(lines) != 1+127*3 {
		t.Fatalf("csv: header %q, %d lines", lines[0], len(lines))
	}
	if !strings.HasPrefix(lines[1], "0,-63,0,") || !strings.HasPrefix(lines[len(lines)-1], "126,63,7,") {
		t.Errorf("csv rows: first %q, last %q", lines[1], lines[len(lines)-1])
	}
	if title := ch.Title(); !strings.Contains(title, "chip seed 1") {
		t.Errorf("title %q does not name the chip", title)
	}
}

// TestCharacterizeRefusesAllClamped: so many sends that every point leaves
// the linear range leave nothing to measure: an error, not a gain of 0.
func TestCharacterizeRefusesAllClamped(t *testing.T) {
	_, err := Characterize(context.Background(), NewIdeal(), CharacterizeOptions{Sends: 1000})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "fewer sends") {
		t.Fatalf("got %v, want a refusal asking for fewer sends", err)
	}
}
