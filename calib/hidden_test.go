package calib

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// hidden holds a simulated chip's fixed pattern, which analogmac keeps
// private. The test rebuilds it from the chip seed following the draw
// order analogmac.NewChip documents (and its golden file guards), and
// checks the rebuild against the chip's noise-free outputs before using
// it. Only tests read it: Characterize never does.
type hidden struct {
	gain, off, lin [analogmac.ArrayCols]float64
	syn            [2][analogmac.BlockRows][analogmac.ArrayCols]float64 // 1 + mismatch
}

// chipStream is the second PCG word of analogmac's chip draws ("analog").
const chipStream = 0x616e616c6f67

func rebuild(seed uint64, cfg analogmac.ChipConfig) *hidden {
	h := &hidden{}
	rng := rand.New(rand.NewPCG(seed, chipStream))
	for i := range h.gain {
		h.gain[i] = max(0, 1+cfg.ColumnGainStd*rng.NormFloat64())
	}
	for i := range h.off {
		h.off[i] = cfg.ColumnOffsetStd * rng.NormFloat64()
	}
	for i := range h.lin {
		h.lin[i] = max(1, cfg.LinearRange+cfg.LinearRangeStd*rng.NormFloat64())
	}
	for s := range 2 {
		for r := range analogmac.BlockRows {
			for c := range analogmac.ArrayCols {
				h.syn[s][r][c] = float64(float32(max(0, 1+cfg.SynapseMismatchStd*rng.NormFloat64())))
			}
		}
	}
	return h
}

// predict is what the chip outputs without trial noise for one block.
func (h *hidden) predict(cfg analogmac.ChipConfig, x []uint8, w []int8, rows, cols, sends int, out []float64) {
	for c := range cols {
		var a float64
		for r := range rows {
			s := 0
			if w[r*cols+c] < 0 {
				s = 1
			}
			a += float64(x[r]) * float64(w[r*cols+c]) * h.syn[s][r][c]
		}
		v := cfg.GainPerSend*float64(sends)*h.gain[c]*a + h.off[c]
		b := Branch{Linear: h.lin[c], Headroom: cfg.SaturationHeadroom}
		out[c] = clampOut(math.Floor(sat(v, b, b)))
	}
}

// checkRebuild fails the test unless the rebuilt fixed pattern predicts
// the chip's noise-free outputs (up to float32 rounding at the floor).
func checkRebuild(t *testing.T, seed uint64, cfg analogmac.ChipConfig, h *hidden) {
	t.Helper()
	cfg.TrialNoiseStd = 0
	chip, err := analogmac.NewChip(seed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	const rows, cols, batch = analogmac.BlockRows, analogmac.ArrayCols, 8
	w := make([]int8, rows*cols)
	for i := range w {
		w[i] = int8(rng.IntN(2*analogmac.WeightMax+1) - analogmac.WeightMax)
	}
	x := make([]uint8, batch*rows)
	for i := range x {
		x[i] = uint8(rng.IntN(4))
	}
	y := make([]int8, batch*cols)
	if err := analogmac.MatMul(context.Background(), chip, y, x, w, analogmac.Shape{Batch: batch, Rows: rows, Cols: cols}, 1, analogmac.Placement{}, 0); err != nil {
		t.Fatal(err)
	}
	pred := make([]float64, cols)
	mismatch := 0
	for b := range batch {
		h.predict(cfg, x[b*rows:(b+1)*rows], w, rows, cols, 1, pred)
		for c, p := range pred {
			if d := math.Abs(p - float64(y[b*cols+c])); d > 1 {
				t.Fatalf("rebuilt fixed pattern of chip %d predicts %v for batch %d column %d, the chip gives %d: the rebuild no longer matches analogmac.NewChip", seed, p, b, c, y[b*cols+c])
			} else if d > 0 {
				mismatch++
			}
		}
	}
	if mismatch > batch*cols/100 {
		t.Fatalf("rebuilt fixed pattern of chip %d is off by one LSB in %d of %d outputs", seed, mismatch, batch*cols)
	}
}
