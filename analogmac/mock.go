package analogmac

import (
	"context"
	"math"
	"sync/atomic"
)

// DefaultMockNoise is the trial-to-trial noise, in output LSB per block
// output, of hxtorch's MNIST mock (MockParameter(noise_std=1.6, gain=0.0018),
// background.md §1); it goes with DefaultGain. hxtorch's generic default is
// 2.0.
const DefaultMockNoise = 1.6

// Mock is hxtorch's software model of the chip: Ideal plus fresh Gaussian
// noise of NoiseStd LSB added to every block output before the floor. It has
// no fixed pattern and no saturation; it is here for comparison with Chip and
// for pre-training as hxtorch does. Build it with NewMock or as a literal.
type Mock struct {
	GainPerSend float64 `json:"gain_per_send"`
	NoiseStd    float64 `json:"noise_std"`

	closed atomic.Bool
}

// NewMock returns a Mock with hxtorch's MNIST parameters.
func NewMock() *Mock { return &Mock{GainPerSend: DefaultGain, NoiseStd: DefaultMockNoise} }

// Gain implements Device.
func (d *Mock) Gain() float64 { return d.GainPerSend }

// Spec implements Describer.
func (d *Mock) Spec() Spec {
	return Spec{Kind: KindMock, GainPerSend: d.GainPerSend, NoiseStd: d.NoiseStd}
}

// Close implements Device.
func (d *Mock) Close() error { d.closed.Store(true); return nil }

// Program implements Device.
func (d *Mock) Program(ctx context.Context, m Matrix) (Program, error) {
	if err := checkGain(d.GainPerSend); err != nil {
		return nil, err
	}
	if !(d.NoiseStd >= 0) || math.IsInf(d.NoiseStd, 0) {
		return nil, argErr("noise_std", "%g: want a finite value >= 0", d.NoiseStd)
	}
	p, err := newProgram(ctx, postMock, m, d.closed.Load, nil, nil)
	if err != nil {
		return nil, err
	}
	p.k, p.std = d.GainPerSend*float64(m.Sends), d.NoiseStd
	return p, nil
}
