package layers

import (
	"fmt"
	"math"

	"github.com/analogloop/analogloop/internal/par"
)

// Adam is the Adam optimiser over a fixed list of parameters. It is ours
// rather than Gorgonia's so that its state can be saved in a checkpoint and
// a resumed run continues exactly where it stopped.
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	State                 AdamState

	step adamStep
}

// AdamState is everything Adam remembers between steps.
type AdamState struct {
	Step int         `json:"step"`
	M    [][]float32 `json:"m"`
	V    [][]float32 `json:"v"`
}

// NewAdam returns Adam with the usual betas.
func NewAdam(lr float64) *Adam { return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// NonFinite returns the first parameter value that is NaN or infinite, as
// an error naming it, or nil. A device never sees such a weight: rounding
// would turn NaN into a plausible integer and hide the divergence.
func NonFinite(params []*Param) error {
	for _, p := range params {
		if i := firstNonFinite(p.Data()); i >= 0 {
			return fmt.Errorf("parameter %s[%d] = %v", p.Name, i, p.Data()[i])
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or infinity in v, or
// -1. It runs after every training step over every weight, so it tests a
// block at a time without a branch per value: v - v is 0 for a finite v
// and NaN otherwise, and a sum of them is NaN as soon as one is; only a
// block whose sum is not 0 is searched value by value.
func firstNonFinite(v []float32) int {
	const block = 256
	for lo := 0; lo < len(v); lo += block {
		b := v[lo:min(lo+block, len(v))]
		var s0, s1, s2, s3 float32
		i := 0
		for ; i+4 <= len(b); i += 4 {
			s0 += b[i] - b[i]
			s1 += b[i+1] - b[i+1]
			s2 += b[i+2] - b[i+2]
			s3 += b[i+3] - b[i+3]
		}
		for ; i < len(b); i++ {
			s0 += b[i] - b[i]
		}
		if s0+s1+s2+s3 == 0 {
			continue
		}
		for j, x := range b {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return lo + j
			}
		}
	}
	return -1
}

// Update applies one step to params given their gradients (same order every
// call), then applies each parameter's Clamp.
func (a *Adam) Update(params []*Param, grads [][]float32) error {
	if len(params) != len(grads) {
		return fmt.Errorf("layers: adam: %d parameters, %d gradients", len(params), len(grads))
	}
	if a.State.M == nil {
		a.State.M = make([][]float32, len(params))
		a.State.V = make([][]float32, len(params))
		for i, p := range params {
			a.State.M[i] = make([]float32, len(p.Data()))
			a.State.V[i] = make([]float32, len(p.Data()))
		}
	}
	if len(a.State.M) != len(params) {
		return fmt.Errorf("layers: adam: state for %d parameters, got %d", len(a.State.M), len(params))
	}
	a.State.Step++
	t := float64(a.State.Step)
	// Bias corrections folded into the step size.
	a.step = adamStep{
		b1: float32(a.Beta1), b2: float32(a.Beta2),
		lr:  float32(a.LR * math.Sqrt(1-math.Pow(a.Beta2, t)) / (1 - math.Pow(a.Beta1, t))),
		eps: float32(a.Eps),
	}
	for i, p := range params {
		w, g, m, v := p.Data(), grads[i], a.State.M[i], a.State.V[i]
		if len(g) != len(w) || len(m) != len(w) || len(a.State.V[i]) != len(w) {
			return fmt.Errorf("layers: adam: parameter %s has %d values, gradient %d, state %d", p.Name, len(w), len(g), len(m))
		}
		// Every element is updated on its own: the parts may run anywhere.
		a.step.w, a.step.g, a.step.m, a.step.v = w, g, m, v
		a.step.parts = max(1, min(len(w)/adamPart, 4*par.Procs()))
		// The vector loop applies an analog layer's clamp as it goes: the
		// same numbers as Clamp afterwards, without another pass.
		a.step.clamp = 0
		if vectorAdam() && p.clampMax > 0 {
			a.step.clamp = p.clampMax
		}
		par.For(a.step.parts, &a.step)
		if p.Clamp != nil && a.step.clamp == 0 {
			p.Clamp()
		}
	}
	a.step = adamStep{}
	return nil
}

// adamPart is the fewest elements worth a part of a parallel update.
const adamPart = 8192

// adamStep is one parameter's update as a parallel loop.
type adamStep struct {
	b1, b2, lr, eps float32
	clamp           float32 // applied by the vector loop when not 0
	w, g, m, v      []float32
	parts           int
}

func (s *adamStep) Do(part int) {
	lo, hi := par.Split(len(s.w), s.parts, 16, part)
	w, m, v := s.w[lo:hi], s.m[lo:hi], s.v[lo:hi]
	if s.adamVector(w, s.g[lo:hi], m, v) {
		return
	}
	b1, b2, lr, eps := s.b1, s.b2, s.lr, s.eps
	for j, gj := range s.g[lo:hi] {
		m[j] = b1*m[j] + (1-b1)*gj
		v[j] = b2*v[j] + (1-b2)*gj*gj
		w[j] -= lr * m[j] / (float32(math.Sqrt(float64(v[j]))) + eps)
	}
}
