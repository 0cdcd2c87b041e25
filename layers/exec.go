package layers

import (
	"context"
	"errors"
	"fmt"

	"github.com/analogloop/analogloop/analogmac"
)

// Exec is where and how one graph's analog products run: on Device, or in
// float mode on the host when Device is nil, with the gain the host assumes
// for gradients. Every graph has its own Exec, and the ops of a graph keep
// their buffers and programmed weights in it, so two graphs of one network
// share nothing but the parameters and may run on two goroutines at once.
//
// An Exec is used by one goroutine at a time: its graph's.
type Exec struct {
	Device analogmac.Device // nil: float mode
	// FloatGain is the gain per send of float mode; a device reports its own.
	FloatGain float64

	ctx     context.Context
	keys    *analogmac.NoiseKeys
	kernels []*Kernel
	err     error // the first error of this run, as an op returned it
}

// NewExec returns an Exec on d (nil: float mode with gain floatGain).
func NewExec(d analogmac.Device, floatGain float64) *Exec {
	return &Exec{Device: d, FloatGain: floatGain}
}

// Float reports whether products run in float32 on the host.
func (e *Exec) Float() bool { return e.Device == nil }

// Gain is the nominal gain per send, which the host also uses for gradients.
func (e *Exec) Gain() float64 {
	if e.Device != nil {
		return e.Device.Gain()
	}
	return e.FloatGain
}

// Begin sets the context and the noise keys of the next run: every product
// on a device draws its noise key from keys, in the order the products run.
// nil keys give key 0 to every product (for a noise-free device).
func (e *Exec) Begin(ctx context.Context, keys *analogmac.NoiseKeys) {
	e.ctx, e.keys, e.err = ctx, keys, nil
}

// Err returns the first error an op of this Exec returned since Begin, as
// the op returned it: Gorgonia's machine flattens the errors it passes on,
// so errors.Is works on this one, not on what RunAll returns.
func (e *Exec) Err() error { return e.err }

// fail records err as the run's error if it is the first.
func (e *Exec) fail(err error) error {
	if e.err == nil {
		e.err = err
	}
	return err
}

func (e *Exec) context() context.Context {
	if e.ctx == nil {
		return context.Background()
	}
	return e.ctx
}

// Close frees every program the Exec's kernels hold on the device.
func (e *Exec) Close() error {
	var errs []error
	for _, k := range e.kernels {
		errs = append(errs, k.Close())
	}
	e.kernels = nil
	return errors.Join(errs...)
}

// String names the mode for logs.
func (e *Exec) String() string {
	if e.Device == nil {
		return fmt.Sprintf("float(gain=%g)", e.FloatGain)
	}
	return fmt.Sprintf("%s(gain=%g)", analogmac.Describe(e.Device).Kind, e.Device.Gain())
}
