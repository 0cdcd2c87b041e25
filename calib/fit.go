package calib

import (
	"cmp"
	"math"
	"slices"

	"github.com/analogloop/analogloop/analogmac"
	"gonum.org/v1/gonum/stat"
)

// Fitting constants (docs/calibration.md explains them).
const (
	// floorBias is added to a mean output to undo the floor: with trial
	// noise of more than about half an LSB, E[floor(v + n)] = v - 0.5.
	floorBias = 0.5
	// startWindow is the largest |output| in LSB taken as linear before
	// the linear range is known: well inside the published ±80.
	startWindow = 40
	// linearShare of a fitted linear range is taken as linear when
	// refitting the gain and measuring the noise.
	linearShare = 0.8
	// quantVar is the variance the floor adds to the trial noise (1/12
	// LSB², Sheppard's correction).
	quantVar = 1.0 / 12
	// fitIterations alternates the gain and the saturation fits.
	fitIterations = 3
	// minGain is the relative improvement of the squared error a
	// saturation must bring over a straight line to be kept, and minChi
	// the improvement in units of the means' variance (a fit of two
	// parameters to pure noise improves by about two).
	minGain = 0.2
	minChi  = 25
)

// point is one (nominal, measured) pair of a column's transfer curve.
type point struct {
	u    float64 // nominal output, LSB: gain_per_send * sends * weight * 128 * x, signed
	v    float64 // mean output + floorBias
	vari float64 // sample variance over the repeats
	vm   float64 // variance of the mean: vari / repeats
	neg  bool    // a negative-weight point
}

// fitColumns fits every column's model from the measurements.
func fitColumns(cal *Calibration, ms *measurements) {
	p := cal.Protocol
	forColumns(func(c int) {
		// Offset: every zero-input output the protocol measured.
		var n, sum float64
		for s := range 2 {
			for sign := range 2 {
				st := ms.curves[s][sign][c] // x = 0
				n, sum = n+st.n, sum+st.sum
			}
		}
		if p.Synapses {
			for sign := range 2 {
				st := ms.zeros[sign][c]
				n, sum = n+st.n, sum+st.sum
			}
		}
		off := sum/n + floorBias
		var pts []point
		for s, set := range []Setting{p.Fine, p.Coarse} {
			for sign := range 2 {
				sg := 1.0
				if sign == 1 {
					sg = -1
				}
				for x := 1; x < curveInputs; x++ {
					st := &ms.curves[s][sign][x*analogmac.ArrayCols+c]
					if st.clamped {
						continue // the ADC clamp hides the curve
					}
					u := sg * cal.GainPerSend * float64(set.Sends*set.Weight*analogmac.BlockRows*x)
					pts = append(pts, point{u: u, v: st.mean() + floorBias, vari: st.variance(), vm: (st.variance() + quantVar) / st.n, neg: sign == 1})
				}
			}
		}
		cal.Columns[c] = fitColumn(pts, off)
	})
}

// fitColumn fits gain and both branches' saturation to pts given the
// offset, alternating: the gain from the points inside the linear range,
// the saturation of each branch from all its points given the gain.
func fitColumn(pts []point, off float64) Column {
	col := Column{Offset: off, Gain: math.NaN(),
		Pos: Branch{Linear: NoSaturation, Headroom: MaxHeadroom},
		Neg: Branch{Linear: NoSaturation, Headroom: MaxHeadroom}}
	winPos, winNeg := float64(startWindow), float64(startWindow)
	for range fitIterations {
		var suv, suu float64
		for _, q := range pts {
			if win := pick(q.neg, winNeg, winPos); math.Abs(q.v) <= win {
				suv += q.u * (q.v - off)
				suu += q.u * q.u
			}
		}
		if suu == 0 {
			return col // no linear point: Validate refuses the NaN gain
		}
		col.Gain = suv / suu
		col.Pos = fitBranch(pts, col.Gain, off, false)
		col.Neg = fitBranch(pts, col.Gain, off, true)
		wp, wn := window(col.Pos, pts, false), window(col.Neg, pts, true)
		settled := math.Abs(wp-winPos) < 1 && math.Abs(wn-winNeg) < 1
		winPos, winNeg = wp, wn
		if settled {
			break // the points taken as linear no longer change
		}
	}
	// Noise: pooled variance over the linear points, less the floor's.
	var sv, k float64
	for _, q := range pts {
		if math.Abs(q.v) <= pick(q.neg, winNeg, winPos) {
			sv += q.vari
			k++
		}
	}
	if k > 0 {
		col.Noise = math.Sqrt(math.Max(0, sv/k-quantVar))
	}
	var se float64
	for _, q := range pts {
		d := q.v - sat(col.Gain*q.u+off, col.Pos, col.Neg)
		se += d * d
	}
	col.RMS = math.Sqrt(se / float64(len(pts)))
	return col
}

func pick(neg bool, a, b float64) float64 {
	if neg {
		return a
	}
	return b
}

// window is the largest |output| taken as linear on a branch: linearShare
// of its linear range, or every point when it does not saturate.
func window(b Branch, pts []point, neg bool) float64 {
	if b.Linear < NoSaturation {
		return linearShare * b.Linear
	}
	w := 0.0
	for _, q := range pts {
		if q.neg == neg {
			w = math.Max(w, math.Abs(q.v))
		}
	}
	return w
}

// fitBranch fits one branch's linear range and headroom by least squares
// over a grid refined once, the points mirrored to the positive side for
// the negative branch. A branch whose best saturation improves the squared
// error by less than minGain over a straight line does not saturate in the
// measured range.
func fitBranch(pts []point, gain, off float64, neg bool) Branch {
	var ps, vs []float64
	var vm float64 // mean variance of the branch's means
	for _, q := range pts {
		if q.neg != neg {
			continue
		}
		vm += q.vm
		p, v := gain*q.u+off, q.v
		if neg {
			p, v = -p, -v
		}
		ps, vs = append(ps, p), append(vs, v)
	}
	none := Branch{Linear: NoSaturation, Headroom: MaxHeadroom}
	if len(ps) == 0 {
		return none
	}
	// Points sorted by p: below L a point costs its straight residual
	// (prefix sums), only the points above L need the curve.
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(ps[a], ps[b]) })
	sp, sv := make([]float64, len(ps)), make([]float64, len(ps))
	prefix := make([]float64, len(ps)+1)
	for k, i := range idx {
		sp[k], sv[k] = ps[i], vs[i]
		d := vs[i] - ps[i]
		prefix[k+1] = prefix[k] + d*d
	}
	cost := func(l, h float64) float64 {
		k, _ := slices.BinarySearch(sp, l)
		for k < len(sp) && sp[k] <= l {
			k++
		}
		e := prefix[k]
		for j := k; j < len(sp); j++ {
			d := sp[j] - l
			r := sv[j] - (l + d/(1+d/h))
			e += r * r
		}
		return e
	}
	straight := prefix[len(sp)]
	best, bl, bh := math.Inf(1), 0.0, 0.0
	for l := 10.0; l <= 200; l += 2 {
		for h := 2.0; h <= MaxHeadroom; h *= 1.3 {
			if e := cost(l, h); e < best {
				best, bl, bh = e, l, h
			}
		}
	}
	for l := bl - 2; l <= bl+2; l += 0.1 {
		for f := 0.77; f <= 1.3; f += 0.01 {
			h := bh * f
			if h < MinHeadroom || h > MaxHeadroom || l < MinLinear {
				continue
			}
			if e := cost(l, h); e < best {
				best, bl, bh = e, l, h
			}
		}
	}
	vm /= float64(len(ps))
	if !(best < (1-minGain)*straight) || !(straight-best > minChi*vm) {
		return none
	}
	return Branch{Linear: bl, Headroom: bh}
}

// fitSynapses turns the probes into a factor per synapse relative to the
// column's gain: the output of the probed row minus that of the zero
// vectors (which cancels the offset and the floor), both brought back
// through the column's saturation, over the nominal probe output.
func fitSynapses(cal *Calibration, ms *measurements) *Synapses {
	const rows, cols = analogmac.BlockRows, analogmac.ArrayCols
	p := cal.Protocol
	s := &Synapses{Rows: rows, Cols: cols, Excitatory: make([][]int16, rows), Inhibitory: make([][]int16, rows)}
	for r := range rows {
		s.Excitatory[r] = make([]int16, cols)
		s.Inhibitory[r] = make([]int16, cols)
	}
	nominal := cal.GainPerSend * float64(p.ProbeSends*p.ProbeInput*p.ProbeWeight)
	forColumns(func(c int) {
		col := cal.Columns[c]
		for sign, dst := range [][][]int16{s.Excitatory, s.Inhibitory} {
			sg := 1.0
			if sign == 1 {
				sg = -1
			}
			z := unsat(ms.zeros[sign][c].mean()+floorBias, col.Pos, col.Neg)
			for r := range rows {
				v := unsat(ms.probes[sign][r*cols+c].mean()+floorBias, col.Pos, col.Neg)
				f := (v - z) / (sg * nominal * col.Gain)
				q := math.Round((f - 1) / SynapseScale)
				dst[r][c] = int16(max(MinSynapseVal, min(MaxSynapseVal, q)))
			}
		}
	})
	return s
}

func summarize(cal *Calibration) Summary {
	var s Summary
	var gains, offs, noise, lin []float64
	for _, c := range cal.Columns {
		gains = append(gains, c.Gain)
		offs = append(offs, c.Offset)
		noise = append(noise, c.Noise)
		for _, b := range []Branch{c.Pos, c.Neg} {
			if b.Linear < NoSaturation {
				lin = append(lin, b.Linear)
				s.Saturating++
			}
		}
		s.RMSMax = math.Max(s.RMSMax, c.RMS)
	}
	s.GainMean, s.GainStd = meanStd(gains)
	s.OffsetMean, s.OffsetStd = meanStd(offs)
	s.NoiseMean, _ = meanStd(noise)
	s.LinearMean, s.LinearStd = meanStd(lin)
	if sy := cal.Synapses; sy != nil {
		var f []float64
		for _, t := range [][][]int16{sy.Excitatory, sy.Inhibitory} {
			for _, row := range t {
				for _, v := range row {
					f = append(f, 1+float64(v)*SynapseScale)
				}
			}
		}
		s.SynapseMean, s.SynapseStd = meanStd(f)
	}
	return s
}

// meanStd returns the mean and sample std of v (zeros when empty, std 0
// for one value, where gonum gives NaN).
func meanStd(v []float64) (float64, float64) {
	switch len(v) {
	case 0:
		return 0, 0
	case 1:
		return v[0], 0
	}
	return stat.MeanStdDev(v, nil)
}
