package calib

import "math"

// The per-column model a calibration holds, for one digitised block
// output of a physical column c (LSB, before the floor):
//
//	v = Gain_c * gain_per_send * sends * sum_r x_r w_r f_rc  +  Offset_c  +  Noise_c * N(0, 1)
//	y = clamp(floor(sat_c(v)), -128, 127)
//
// with f_rc the synapse factor of the synapse the weight's sign selects (1
// without synapse data) and sat_c the identity between -Neg.Linear and
// Pos.Linear and compressive beyond: L + d/(1 + d/H) for d = |v| - L on
// each branch with its own L (Linear) and H (Headroom). This is the shape
// of analogmac's simulated chip, with the two branches fitted apart
// because measured BrainScaleS-2 readouts saturate asymmetrically
// (docs/background.md §1).

// Branch is one sign's saturation: the output is linear up to Linear LSB
// and then tends to Linear + Headroom.
type Branch struct {
	Linear   float64 `json:"linear"`
	Headroom float64 `json:"headroom"`
}

// Limits of the fitted saturation. A branch whose curve stays straight over
// every measured point is given Linear = NoSaturation: it saturates, if at
// all, beyond what was measured and the ADC clamp comes first.
const (
	MinLinear    = 1.0
	NoSaturation = 512.0
	MinHeadroom  = 1.0
	MaxHeadroom  = 1024.0
)

// sat applies a branch pair to v.
func sat(v float64, pos, neg Branch) float64 {
	switch {
	case v > pos.Linear:
		d := v - pos.Linear
		return pos.Linear + d/(1+d/pos.Headroom)
	case v < -neg.Linear:
		d := -neg.Linear - v
		return -neg.Linear - d/(1+d/neg.Headroom)
	}
	return v
}

// maxInverse bounds how far beyond the linear range unsat may reach, as a
// fraction of the headroom: an output at or above the asymptote (noise,
// or the ADC clamp) has no finite inverse.
const maxInverse = 0.95

// unsat inverts sat: the analog value that saturates to s.
func unsat(s float64, pos, neg Branch) float64 {
	switch {
	case s > pos.Linear:
		d := math.Min(s-pos.Linear, maxInverse*pos.Headroom)
		return pos.Linear + d/(1-d/pos.Headroom)
	case s < -neg.Linear:
		d := math.Min(-neg.Linear-s, maxInverse*neg.Headroom)
		return -neg.Linear - d/(1-d/neg.Headroom)
	}
	return s
}

// clampOut clamps to the ADC's range -128..127.
func clampOut(v float64) float64 {
	if v < -128 {
		return -128
	}
	if v > 127 {
		return 127
	}
	return v
}
