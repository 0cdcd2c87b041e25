package analogmac

import (
	"context"
	"sync/atomic"
)

// DefaultGain is the nominal gain per send of hxtorch's MNIST mock
// (MockParameter(gain=0.0018), background.md §1).
const DefaultGain = 0.0018

// Ideal is the exact integer data path of the chip without noise: per row
// block floor(gain * sends * x.w) clamped to int8, the blocks added and
// clamped again. It is the reference a network trained in software assumes.
// Build it with NewIdeal or as &Ideal{GainPerSend: g}.
type Ideal struct {
	GainPerSend float64 `json:"gain_per_send"`

	closed atomic.Bool
}

// NewIdeal returns an Ideal device with the default gain.
func NewIdeal() *Ideal { return &Ideal{GainPerSend: DefaultGain} }

// Gain implements Device.
func (d *Ideal) Gain() float64 { return d.GainPerSend }

// Spec implements Describer.
func (d *Ideal) Spec() Spec { return Spec{Kind: KindIdeal, GainPerSend: d.GainPerSend} }

// Close implements Device.
func (d *Ideal) Close() error { d.closed.Store(true); return nil }

// Program implements Device.
func (d *Ideal) Program(ctx context.Context, m Matrix) (Program, error) {
	if err := checkGain(d.GainPerSend); err != nil {
		return nil, err
	}
	p, err := newProgram(ctx, postIdeal, m, d.closed.Load, nil, nil)
	if err != nil {
		return nil, err
	}
	p.k = d.GainPerSend * float64(m.Sends)
	return p, nil
}
