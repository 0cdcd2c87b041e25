package analogmac

import (
	"fmt"
	"strings"
)

// Device kinds understood by NewDevice, in the order flag help lists them.
const (
	KindIdeal = "ideal"
	KindMock  = "mock"
	KindChip  = "chip"
)

// Kinds returns the device kinds NewDevice accepts.
func Kinds() []string { return []string{KindIdeal, KindMock, KindChip} }

// NewDevice returns a device of the given kind with default parameters:
// "ideal" (seeds unused), "mock" (noise from noiseSeed) or "chip" (the chip
// chipSeed with DefaultChipConfig, noise from noiseSeed).
func NewDevice(kind string, chipSeed, noiseSeed uint64) (Device, error) {
	switch kind {
	case KindIdeal:
		return NewIdeal(), nil
	case KindMock:
		return NewMock(noiseSeed), nil
	case KindChip:
		return NewChip(chipSeed, noiseSeed, DefaultChipConfig())
	}
	return nil, fmt.Errorf("analogmac: unknown device kind %q: want one of %s", kind, strings.Join(Kinds(), ", "))
}

// DeviceInfo describes a device for a results file.
type DeviceInfo struct {
	Kind        string      `json:"kind"` // a Kinds value, or "other"
	GainPerSend float64     `json:"gain_per_send"`
	NoiseStd    float64     `json:"noise_std"`           // trial noise in LSB per block output
	ChipSeed    *uint64     `json:"chip_seed,omitempty"` // Chip only
	Chip        *ChipConfig `json:"chip,omitempty"`      // Chip only
}

// Describe returns what is known about d's configuration.
func Describe(d Device) DeviceInfo {
	switch d := d.(type) {
	case *Ideal:
		return DeviceInfo{Kind: KindIdeal, GainPerSend: d.GainPerSend}
	case *Mock:
		return DeviceInfo{Kind: KindMock, GainPerSend: d.GainPerSend, NoiseStd: d.NoiseStd}
	case *Chip:
		cfg, seed := d.Config(), d.Seed()
		return DeviceInfo{Kind: KindChip, GainPerSend: cfg.GainPerSend, NoiseStd: cfg.TrialNoiseStd, ChipSeed: &seed, Chip: &cfg}
	}
	return DeviceInfo{Kind: "other", GainPerSend: d.Gain()}
}
