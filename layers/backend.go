package layers

import (
	"fmt"

	"github.com/analogloop/analogloop/analogmac"
)

// Backend decides where a network's analog products run. Every analog layer
// of a network holds the same *Backend, so switching a network between float,
// ideal, mock and chip is one assignment, never a second model.
type Backend struct {
	// Device runs the products; nil selects float mode: the same products in
	// float32 on the host, with the same gain and clamps but no rounding.
	Device analogmac.Device
	// GainPerSend is the gain used in float mode (a Device reports its own).
	GainPerSend float64
}

// NewBackend returns a backend in float mode with the chip's default gain.
func NewBackend() *Backend { return &Backend{GainPerSend: analogmac.DefaultGain} }

// Float reports whether products run in float32 on the host.
func (b *Backend) Float() bool { return b.Device == nil }

// Gain is the nominal gain per send, which the host also uses for gradients.
func (b *Backend) Gain() float64 {
	if b.Device != nil {
		return b.Device.Gain()
	}
	return b.GainPerSend
}

// String names the mode for logs.
func (b *Backend) String() string {
	if b.Device == nil {
		return fmt.Sprintf("float(gain=%g)", b.GainPerSend)
	}
	return fmt.Sprintf("%T(gain=%g)", b.Device, b.Device.Gain())
}
