package analogmac

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/analogloop/analogloop/internal/par"
)

// ChipConfig holds the magnitudes of a simulated chip's deviations. The
// per-column and per-synapse values themselves are drawn from the chip seed;
// the config only scales them, so changing a magnitude keeps each column's
// direction of deviation. Sources refer to docs/background.md §1; where the
// literature gives no number the choice is ours and says so. These defaults
// decide how much accuracy a software-trained network loses on the chip
// (published for MNIST: 98.42 % in software, 91.54 % on the chip without
// re-training), so they live here and nowhere else.
type ChipConfig struct {
	// GainPerSend is the nominal output in LSB per unit of input x weight
	// and per send: 0.0018, the gain of hxtorch's MNIST mock, inside the
	// published 0.0018-0.002 ("gain" row).
	GainPerSend float64 `json:"gain_per_send"`
	// ColumnGainStd is the relative std of each column's gain around the
	// nominal one. Per-neuron gain deviations remain after calibration
	// (Summ et al. 2025, "fixed-pattern deviations" row); the size is ours:
	// 6 %, so a column at 60 LSB is off by about 3.6 LSB, above the trial
	// noise as "systematic errors dominate" says.
	ColumnGainStd float64 `json:"column_gain_std"`
	// ColumnOffsetStd is the std, in LSB, of each column's offset, added to
	// every block it digitises. Per-neuron offsets remain after calibration
	// (Summ et al. 2025); the size is ours: 3 LSB, about twice the trial
	// noise.
	ColumnOffsetStd float64 `json:"column_offset_std"`
	// SynapseMismatchStd is the relative std of each physical synapse's
	// weight (an excitatory and an inhibitory synapse per input and column).
	// Not published in background.md; ours: 8 %, typical of analog synapse
	// mismatch. It averages out over many rows of equal weight (the
	// characterisation barely sees it) but not in a trained layer.
	SynapseMismatchStd float64 `json:"synapse_mismatch_std"`
	// LinearRange is the mean half-width, in LSB, of the range over which a
	// column is linear: about +-80 ("linear range" row, brainscales2-demos).
	LinearRange float64 `json:"linear_range"`
	// LinearRangeStd is the per-column std of the linear range in LSB: the
	// readout saturates "earlier on some neurons than on others" (same
	// source); the size, 8 LSB, is ours.
	LinearRangeStd float64 `json:"linear_range_std"`
	// SaturationHeadroom is how far, in LSB, a saturating column's output
	// can still rise beyond its linear range: the curve tends to
	// linear range + headroom. Ours: 64, so a nominal column meets the ADC
	// clamp at 127 only for analog values above about 250 LSB.
	SaturationHeadroom float64 `json:"saturation_headroom"`
	// TrialNoiseStd is the trial-to-trial noise in LSB per block output:
	// 1.6, the noise of hxtorch's MNIST mock, in the published 1.6-2.0
	// ("trial-to-trial noise" row).
	TrialNoiseStd float64 `json:"trial_noise_std"`
}

// DefaultChipConfig returns the documented defaults.
func DefaultChipConfig() ChipConfig {
	return ChipConfig{
		GainPerSend:        DefaultGain,
		ColumnGainStd:      0.06,
		ColumnOffsetStd:    3.0,
		SynapseMismatchStd: 0.08,
		LinearRange:        80,
		LinearRangeStd:     8,
		SaturationHeadroom: 64,
		TrialNoiseStd:      DefaultMockNoise,
	}
}

// Validate reports values that no chip can have.
func (c ChipConfig) Validate() error {
	var errs []error
	positive := func(name string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			errs = append(errs, argErr("chip."+name, "%g: want a finite value > 0", v))
		}
	}
	nonNegative := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			errs = append(errs, argErr("chip."+name, "%g: want a finite value >= 0", v))
		}
	}
	positive("gain_per_send", c.GainPerSend)
	nonNegative("column_gain_std", c.ColumnGainStd)
	nonNegative("column_offset_std", c.ColumnOffsetStd)
	nonNegative("synapse_mismatch_std", c.SynapseMismatchStd)
	positive("linear_range", c.LinearRange)
	nonNegative("linear_range_std", c.LinearRangeStd)
	positive("saturation_headroom", c.SaturationHeadroom)
	nonNegative("trial_noise_std", c.TrialNoiseStd)
	return errors.Join(errs...)
}

// Chip simulates one BrainScaleS-2 chip in ANN mode. Its fixed pattern
// (per-column gain, offset and linear range, per-synapse weight mismatch) is
// drawn once from the chip seed over the whole physical array; its trial
// noise comes from the noise key of each Run. Per tile of the weight matrix
// (see Tiles), a block output is
//
//	v = k_c * sum_r x_r * w_rc * (1 + m[s][PhysRow+r-Row0][c'])  + o_c + noise
//	y = clamp(floor(sat_c(v)), -128, 127)
//
// with c' = PhysCol+c-Col0 the physical column, s the synapse of the pair
// the weight's sign selects, k_c = gain * sends * g[c'], o_c = o[c'], and
// sat_c the column's saturation (see ChipConfig). The row blocks' outputs
// are added digitally and clamped again, as on the real system.
//
// The noise is added before the saturation because it arises on the
// membrane, during integration, and so is squeezed by the same readout
// range as the signal; the ADC adds little of its own beyond quantisation.
//
// Build a Chip with NewChip; the zero value has no fixed pattern and its
// Program refuses to run. A Chip's fixed pattern never changes after
// NewChip, so programs of one chip may run on several goroutines at once.
type Chip struct {
	seed uint64
	cfg  ChipConfig

	colGain   [ArrayCols]float64 // relative gain, around 1
	colOffset [ArrayCols]float64 // LSB
	colLinear [ArrayCols]float64 // LSB, half-width of the linear range
	// synapse holds 1 + mismatch per physical synapse as float32, indexed
	// [(row*ArrayCols + col)*2 + s] with s = 0 for the excitatory synapse
	// (positive weights) and 1 for the inhibitory one (negative weights):
	// the pair sits side by side so that the sign bit picks it without a
	// branch.
	synapse []float32

	closed atomic.Bool
}

// NewChip builds the chip identified by chipSeed with the magnitudes in
// cfg.
//
// The fixed pattern is drawn from PCG(chipSeed, chipStream) through
// math/rand/v2's NormFloat64, in this order, and scaled by cfg afterwards:
// ArrayCols column gains, ArrayCols column offsets, ArrayCols linear ranges
// (all by physical column), then the synapse mismatches: excitatory rows 0..
// BlockRows-1, then inhibitory rows, each row's ArrayCols columns in order.
// Gains and synapse factors are floored at 0 and linear ranges at 1 LSB.
// This order is part of the chip's identity: testdata/chip_seed1.golden
// fails if any of it changes.
func NewChip(chipSeed uint64, cfg ChipConfig) (*Chip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Chip{seed: chipSeed, cfg: cfg, synapse: make([]float32, 2*BlockRows*ArrayCols)}
	rng := rand.New(rand.NewPCG(chipSeed, chipStream))
	for i := range c.colGain {
		c.colGain[i] = max(0, 1+cfg.ColumnGainStd*rng.NormFloat64())
	}
	for i := range c.colOffset {
		c.colOffset[i] = cfg.ColumnOffsetStd * rng.NormFloat64()
	}
	for i := range c.colLinear {
		c.colLinear[i] = max(1, cfg.LinearRange+cfg.LinearRangeStd*rng.NormFloat64())
	}
	for sy := range 2 {
		for i := range BlockRows * ArrayCols {
			c.synapse[2*i+sy] = float32(max(0, 1+cfg.SynapseMismatchStd*rng.NormFloat64()))
		}
	}
	return c, nil
}

// Config returns the magnitudes the chip was built with.
func (c *Chip) Config() ChipConfig { return c.cfg }

// Seed returns the chip seed that identifies the chip's fixed pattern.
func (c *Chip) Seed() uint64 { return c.seed }

// Gain implements Device: the nominal gain, which is all the host knows.
func (c *Chip) Gain() float64 { return c.cfg.GainPerSend }

// Spec implements Describer.
func (c *Chip) Spec() Spec {
	cfg, seed := c.cfg, c.seed
	return Spec{Kind: KindChip, GainPerSend: cfg.GainPerSend, NoiseStd: cfg.TrialNoiseStd, ChipSeed: &seed, Chip: &cfg}
}

// Close implements Device.
func (c *Chip) Close() error { c.closed.Store(true); return nil }

// Program implements Device: the effective weights w * (1 + mismatch) of
// the synapses the matrix occupies and the gain, offset and linear range of
// its columns are computed here, once per programming, and again for the
// weights an Update changes.
func (c *Chip) Program(ctx context.Context, m Matrix) (Program, error) {
	if c.synapse == nil {
		return nil, argErr("chip", "no fixed pattern: build it with NewChip")
	}
	tiles, err := Tiles(m.Rows, m.Cols, m.Placement)
	if err != nil {
		return nil, err
	}
	pl := c.placement(m.Rows, m.Cols, tiles)
	p, err := newProgram(ctx, postChip, m, c.closed.Load, func(p *program, w []int8) { c.placeWeights(p, w, pl) }, pl.weightAt)
	if err != nil {
		return nil, err
	}
	p.std, p.invHead = c.cfg.TrialNoiseStd, 1/c.cfg.SaturationHeadroom
	return p, nil
}

// placement is where a matrix's rows and columns sit on the array: the
// physical row of every logical row and the physical column of every
// logical column (its tiles, flattened).
type placement struct {
	c              *Chip
	cols           int
	physRow, physC []int32
	colTiles       []Tile
}

func (c *Chip) placement(rows, cols int, tiles []Tile) *placement {
	nct := (cols + BlockCols - 1) / BlockCols
	pl := &placement{c: c, cols: cols, physRow: make([]int32, rows), physC: make([]int32, cols), colTiles: tiles[:nct]}
	for r := range rows {
		rt := tiles[(r/BlockRows)*nct]
		pl.physRow[r] = int32(rt.PhysRow + r - rt.Row0)
	}
	for _, t := range pl.colTiles { // every row block uses the same columns
		for col := t.Col0; col < t.Col1; col++ {
			pl.physC[col] = int32(t.PhysCol + col - t.Col0)
		}
	}
	return pl
}

// weightAt is the effective weight of value v at index i of the matrix:
// v times the factor of the synapse its sign selects.
func (pl *placement) weightAt(i int, v int8) float32 {
	r, col := i/pl.cols, i%pl.cols
	// uint8(v)>>7 is 1 for a negative weight: its inhibitory synapse.
	return float32(v) * pl.c.synapse[2*(int(pl.physRow[r])*ArrayCols+int(pl.physC[col]))+int(uint8(v)>>7)]
}

// placeWeights writes the effective weights w * (1 + mismatch) of the
// synapses each tile occupies into p.w, and the per-column gain, offset and
// linear range of the columns the tiles occupy into p.col*.
func (c *Chip) placeWeights(p *program, w []int8, pl *placement) {
	rows, cols := p.m.Rows, p.m.Cols
	p.colScale = grow(p.colScale, cols)
	p.colOff = grow(p.colOff, cols)
	p.colLin = grow(p.colLin, cols)
	k := c.cfg.GainPerSend * float64(p.m.Sends)
	for col, pc := range pl.physC {
		p.colScale[col] = k * c.colGain[pc]
		p.colOff[col] = c.colOffset[pc]
		p.colLin[col] = c.colLinear[pc]
	}
	p.place = placeBody{c: c, p: p, w: w, pl: pl, parts: parts(rows*cols, 1<<15)}
	par.For(p.place.parts, &p.place)
	p.place = placeBody{}
}

// placeBody writes the effective weights of a band of rows.
type placeBody struct {
	c     *Chip
	p     *program
	w     []int8
	pl    *placement
	parts int
}

func (b *placeBody) Do(i int) {
	c, p, cols := b.c, b.p, b.p.m.Cols
	lo, hi := par.Split(p.m.Rows, b.parts, 1, i)
	for r := lo; r < hi; r++ {
		pr := int(b.pl.physRow[r])
		for _, t := range b.pl.colTiles {
			n := t.Col1 - t.Col0
			pairs := c.synapse[2*(pr*ArrayCols+t.PhysCol):][:2*n]
			src := b.w[r*cols+t.Col0:][:n]
			out := p.w[r*cols+t.Col0:][:n]
			for j, v := range src {
				// uint8(v)>>7 is 1 for a negative weight: its inhibitory synapse.
				out[j] = float32(v) * pairs[2*j+int(uint8(v)>>7)]
			}
		}
	}
}
