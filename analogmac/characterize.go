package analogmac

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
)

// The characterisation experiment (background.md §1; the published
// characterisation figure): 127 columns whose weights are -63..63, one
// value per column and the same in all 128 rows, driven by constant input
// vectors of 0, 3 and 7.
const (
	// CharacterizationSends is the default number of sends: with gain
	// 0.0018, input 7 and weight 63 give a nominal 7*63*128*0.0018*2 = 203
	// LSB, well into saturation, while input 3 stays near the linear
	// range (87 LSB at |w| = 63), as in the published figure.
	CharacterizationSends = 2
	// CharacterizationRepeats is the number of runs per input, as published.
	CharacterizationRepeats = 30
	// LinearLimit is the nominal output, in LSB, up to which a point counts
	// as linear when measuring: below the published +-80 with room for a
	// column's gain, offset and linear-range deviations.
	LinearLimit = 50
	// GainMinSignal is the smallest nominal output, in LSB, of a point used
	// for a column's own gain, so that its noise stays a few percent of it.
	GainMinSignal = 20
)

// CharacterizationInputs are the constant input values of the experiment.
func CharacterizationInputs() []int { return []int{0, 3, 7} }

// Characterization is the outcome of the characterisation experiment.
type Characterization struct {
	Device  Spec  `json:"device"`
	Repeats int   `json:"repeats"`
	Sends   int   `json:"sends"`
	Inputs  []int `json:"inputs"`  // the constant input values
	Weights []int `json:"weights"` // the weight of each column
	// Mean and Std hold, per input (outer index) and column, the mean and
	// the sample std of the output over the repeats, in LSB.
	Mean [][]float64 `json:"mean"`
	Std  [][]float64 `json:"std"`
	// Params are the parameters measured from Mean and Std.
	Params Parameters `json:"parameters"`
}

// Parameters are a device's parameters measured from the characterisation,
// the way hxtorch measures a chip and separates its two kinds of noise.
// Only "linear" points enter (nominal |output| <= LinearLimit); see Methods.
type Parameters struct {
	Gain               float64 `json:"gain"`                 // LSB per input x weight x send
	Offset             float64 `json:"offset"`               // LSB, intercept of the gain fit
	TrialNoise         float64 `json:"trial_noise"`          // LSB
	FixedPatternSpread float64 `json:"fixed_pattern_spread"` // LSB
	ColumnOffsetSpread float64 `json:"column_offset_spread"` // LSB
	ColumnGainSpread   float64 `json:"column_gain_spread"`   // relative
	LinearPoints       int     `json:"linear_points"`
	GainColumns        int     `json:"gain_columns"`
}

// Methods says how each parameter is measured, for results files.
func (Parameters) Methods() map[string]string {
	return map[string]string{
		"linear_points":        fmt.Sprintf("(column, input) points whose nominal output gain*sends*input*weight*128 is within +-%d LSB", LinearLimit),
		"gain":                 "least-squares slope of the mean output against the ideal product input*weight*128*sends over the linear points (with an intercept)",
		"offset":               "intercept of that fit (the floor lowers outputs by up to 1 LSB, 0.5 on average with noise)",
		"trial_noise":          "mean over columns of the per-column std over repeats (sample std, averaged over the column's linear inputs)",
		"fixed_pattern_spread": "std over columns of the per-column mean deviation of the mean output from the fitted line (averaged over the column's linear inputs)",
		"column_offset_spread": "std over columns of the mean output for input 0",
		"column_gain_spread":   fmt.Sprintf("std over columns of each column's least-squares gain (mean output minus its input-0 mean, against the product, over linear points of nominal |output| >= %d LSB) relative to the fitted gain", GainMinSignal),
		"gain_columns":         "columns that entered column_gain_spread",
	}
}

// CharacterizeOptions are the knobs of Characterize; zero values take the
// published experiment's.
type CharacterizeOptions struct {
	Repeats int    // runs per input vector; 0: CharacterizationRepeats
	Sends   int    // 0: CharacterizationSends
	Noise   uint64 // seed of the runs' noise keys (NewNoiseKeys)
}

// Characterize runs the characterisation experiment on d: o.Repeats runs of
// each input vector, with o.Sends sends, the matrix placed at physical row 0
// and column 0, and measures the device's parameters. It costs one
// programming and o.Repeats runs of 3 vectors.
func Characterize(ctx context.Context, d Device, o CharacterizeOptions) (*Characterization, error) {
	repeats, sends := o.Repeats, o.Sends
	if repeats == 0 {
		repeats = CharacterizationRepeats
	}
	if sends == 0 {
		sends = CharacterizationSends
	}
	if repeats < 2 {
		return nil, argErr("repeats", "%d: need at least 2 for a std", repeats)
	}
	if sends < 1 || sends > MaxSends {
		return nil, argErr("sends", "%d: want 1..%d", sends, MaxSends)
	}
	inputs := CharacterizationInputs()
	cols := 2*WeightMax + 1
	s := Shape{Batch: len(inputs), Rows: BlockRows, Cols: cols}
	weights := make([]int, cols)
	w := make([]int8, s.Rows*s.Cols)
	for c := range cols {
		weights[c] = c - WeightMax
		for r := range s.Rows {
			w[r*cols+c] = int8(weights[c])
		}
	}
	x := make([]uint8, s.Batch*s.Rows)
	for i, v := range inputs {
		for r := range s.Rows {
			x[i*s.Rows+r] = uint8(v)
		}
	}
	prog, err := d.Program(ctx, Matrix{Rows: s.Rows, Cols: s.Cols, Weights: w, Sends: sends})
	if err != nil {
		return nil, fmt.Errorf("analogmac: characterize: %w", err)
	}
	defer prog.Close()
	keys := NewNoiseKeys(o.Noise)
	// runs[rep][i*cols+c]: every output, for a two-pass mean and std.
	runs := make([][]int8, repeats)
	for rep := range runs {
		runs[rep] = make([]int8, s.Batch*s.Cols)
		if err := prog.Run(ctx, runs[rep], x, s.Batch, keys.Next()); err != nil {
			return nil, fmt.Errorf("analogmac: characterize: %w", err)
		}
	}
	ch := &Characterization{
		Device: Describe(d), Repeats: repeats, Sends: sends,
		Inputs: inputs, Weights: weights,
		Mean: make([][]float64, len(inputs)), Std: make([][]float64, len(inputs)),
	}
	for i := range inputs {
		ch.Mean[i] = make([]float64, cols)
		ch.Std[i] = make([]float64, cols)
		for c := range cols {
			var sum float64
			for _, run := range runs {
				sum += float64(run[i*cols+c])
			}
			mean := sum / float64(repeats)
			var ss float64
			for _, run := range runs {
				d := float64(run[i*cols+c]) - mean
				ss += d * d
			}
			ch.Mean[i][c] = mean
			ch.Std[i][c] = math.Sqrt(ss / float64(repeats-1))
		}
	}
	ch.Params = ch.measure(d.Gain())
	if !(ch.Params.Gain > 0) {
		// Every nominal output beyond the linear range: nothing to fit,
		// and a gain of 0 would be reported as a measurement.
		return nil, argErr("sends", "%d: no point of the experiment stays within ±%d LSB; use fewer sends", sends, LinearLimit)
	}
	return ch, nil
}

// product is the ideal integer product, in input x weight x send units, of
// input index i and column c.
func (ch *Characterization) product(i, c int) float64 {
	return float64(ch.Inputs[i] * ch.Weights[c] * BlockRows * ch.Sends)
}

func (ch *Characterization) measure(gain float64) Parameters {
	var p Parameters
	linear := func(i, c int) bool { return math.Abs(gain*ch.product(i, c)) <= LinearLimit }

	// Gain and offset: ordinary least squares over the linear points.
	var su, sy, suu, suy, n float64
	for i := range ch.Inputs {
		for c := range ch.Weights {
			if !linear(i, c) {
				continue
			}
			u, y := ch.product(i, c), ch.Mean[i][c]
			su, sy, suu, suy, n = su+u, sy+y, suu+u*u, suy+u*y, n+1
		}
	}
	p.LinearPoints = int(n)
	if den := n*suu - su*su; den > 0 {
		p.Gain = (n*suy - su*sy) / den
		p.Offset = (sy - p.Gain*su) / n
	}

	// Per column: mean std over repeats and mean deviation from the line.
	noise := make([]float64, 0, len(ch.Weights))
	dev := make([]float64, 0, len(ch.Weights))
	offsets := make([]float64, 0, len(ch.Weights))
	gains := make([]float64, 0, len(ch.Weights))
	i0 := -1
	for i, v := range ch.Inputs {
		if v == 0 {
			i0 = i
		}
	}
	for c := range ch.Weights {
		var sn, sd, k float64
		var gu, guu float64
		for i := range ch.Inputs {
			if !linear(i, c) {
				continue
			}
			u := ch.product(i, c)
			sn += ch.Std[i][c]
			sd += ch.Mean[i][c] - (p.Gain*u + p.Offset)
			k++
			if i0 >= 0 && math.Abs(gain*u) >= GainMinSignal {
				gu += u * (ch.Mean[i][c] - ch.Mean[i0][c])
				guu += u * u
			}
		}
		if k > 0 {
			noise = append(noise, sn/k)
			dev = append(dev, sd/k)
		}
		if i0 >= 0 {
			offsets = append(offsets, ch.Mean[i0][c])
		}
		if guu > 0 && p.Gain != 0 {
			gains = append(gains, gu/guu/p.Gain)
		}
	}
	p.TrialNoise = mean(noise)
	p.FixedPatternSpread = stdDev(dev)
	p.ColumnOffsetSpread = stdDev(offsets)
	p.ColumnGainSpread = stdDev(gains)
	p.GainColumns = len(gains)
	return p
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// stdDev is the sample std of v, 0 for fewer than two values.
func stdDev(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	m := mean(v)
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(v)-1))
}

// WriteCSV writes one row per column and input value under the header
// column,weight,input,mean,std.
func (ch *Characterization) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("column,weight,input,mean,std\n")
	for c, wt := range ch.Weights {
		for i, in := range ch.Inputs {
			fmt.Fprintf(bw, "%d,%d,%d,%s,%s\n", c, wt, in,
				strconv.FormatFloat(ch.Mean[i][c], 'f', 4, 64),
				strconv.FormatFloat(ch.Std[i][c], 'f', 4, 64))
		}
	}
	return bw.Flush()
}

// Title names the device, and the chip seed for a chip.
func (ch *Characterization) Title() string {
	dev := ch.Device.Kind
	if ch.Device.ChipSeed != nil {
		dev = fmt.Sprintf("%s, chip seed %d", dev, *ch.Device.ChipSeed)
	}
	return fmt.Sprintf("Characterisation (%s): mean ± std of %d runs, %d sends", dev, ch.Repeats, ch.Sends)
}
