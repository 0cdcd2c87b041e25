package analogmac

import (
	"fmt"
	"reflect"
	"strings"
)

// Device kinds that New builds, in the order flag help lists them.
const (
	KindIdeal = "ideal"
	KindMock  = "mock"
	KindChip  = "chip"
)

// Kinds returns the device kinds New accepts.
func Kinds() []string { return []string{KindIdeal, KindMock, KindChip} }

// Spec is a simulated device's configuration as data: what New builds a
// device from, what Describe reports and what results files record. The
// presets (Preset) are named Specs.
type Spec struct {
	Kind        string      `json:"kind"`                // a Kinds value; "other" from Describe for an unknown device
	GainPerSend float64     `json:"gain_per_send"`       // nominal gain, LSB per input x weight x send
	NoiseStd    float64     `json:"noise_std"`           // trial noise in LSB per block output (mock, chip)
	ChipSeed    *uint64     `json:"chip_seed,omitempty"` // chip only: which chip
	Chip        *ChipConfig `json:"chip,omitempty"`      // chip only: its magnitudes
	// Base and Calibration describe a device built from a calibration
	// (package calib, kinds "calibrated", "calibrated-weights", "twin"):
	// the device it wraps or was fitted to, and the calibration file it
	// uses, named by "sha256:" and the SHA-256 of the file's canonical
	// bytes. New does not build these: calib does, from the file.
	Base        *Spec  `json:"base,omitempty"`
	Calibration string `json:"calibration,omitempty"`
}

// Equal reports whether s and o describe the same device: the same
// values, whether or not they share the memory their pointer fields point
// to (a Spec read back from a results file equals the device's own).
func (s Spec) Equal(o Spec) bool { return reflect.DeepEqual(s, o) }

// Preset returns the named default configuration of a kind: "ideal" with
// DefaultGain, "mock" with hxtorch's MNIST parameters, "chip" the chip
// chipSeed with DefaultChipConfig. chipSeed is ignored but for "chip".
func Preset(kind string, chipSeed uint64) (Spec, error) {
	switch kind {
	case KindIdeal:
		return NewIdeal().Spec(), nil
	case KindMock:
		return NewMock().Spec(), nil
	case KindChip:
		cfg := DefaultChipConfig()
		return Spec{Kind: KindChip, GainPerSend: cfg.GainPerSend, NoiseStd: cfg.TrialNoiseStd, ChipSeed: &chipSeed, Chip: &cfg}, nil
	}
	return Spec{}, argErr("kind", "unknown device kind %q: want one of %s", kind, strings.Join(Kinds(), ", "))
}

// New builds the device s describes. A chip's gain and noise are those of
// s.Chip; s.GainPerSend and s.NoiseStd must agree with them (or be zero).
func New(s Spec) (Device, error) {
	switch s.Kind {
	case KindIdeal:
		d := &Ideal{GainPerSend: s.GainPerSend}
		if err := checkGain(d.GainPerSend); err != nil {
			return nil, err
		}
		return d, nil
	case KindMock:
		d := &Mock{GainPerSend: s.GainPerSend, NoiseStd: s.NoiseStd}
		if err := checkGain(d.GainPerSend); err != nil {
			return nil, err
		}
		return d, nil
	case KindChip:
		if s.ChipSeed == nil {
			return nil, argErr("chip_seed", "missing: a chip is its seed")
		}
		cfg := DefaultChipConfig()
		if s.Chip != nil {
			cfg = *s.Chip
		}
		if s.GainPerSend != 0 && s.GainPerSend != cfg.GainPerSend {
			return nil, argErr("gain_per_send", "%g disagrees with the chip config's %g", s.GainPerSend, cfg.GainPerSend)
		}
		if s.NoiseStd != 0 && s.NoiseStd != cfg.TrialNoiseStd {
			return nil, argErr("noise_std", "%g disagrees with the chip config's trial noise %g", s.NoiseStd, cfg.TrialNoiseStd)
		}
		return NewChip(*s.ChipSeed, cfg)
	}
	if s.Calibration != "" {
		return nil, argErr("kind", "%q is built from its calibration file (package calib), not from a Spec alone", s.Kind)
	}
	return nil, argErr("kind", "unknown device kind %q: want one of %s", s.Kind, strings.Join(Kinds(), ", "))
}

// NewDevice builds the preset of a kind (see Preset): the one-line way to
// get a device for flags such as -device chip -chip 7.
func NewDevice(kind string, chipSeed uint64) (Device, error) {
	s, err := Preset(kind, chipSeed)
	if err != nil {
		return nil, err
	}
	return New(s)
}

// String names the device for logs: "chip 7", "mock", "ideal",
// "calibrated chip 7", "twin of chip 7".
func (s Spec) String() string {
	switch {
	case s.Kind == KindChip && s.ChipSeed != nil:
		return fmt.Sprintf("chip %d", *s.ChipSeed)
	case s.Kind == "twin" && s.Base != nil:
		return "twin of " + s.Base.String()
	case s.Base != nil:
		return s.Kind + " " + s.Base.String()
	}
	return s.Kind
}
