// Package deviceflags is how the commands open a device from their flags:
// -device KIND and -chip SEED for the simulated devices. It is the one
// place that knows every kind a command line can name, so cmd/train,
// cmd/characterize and the others take the same flags with the same
// meaning.
package deviceflags

import (
	"flag"
	"fmt"
	"strings"

	"github.com/analogloop/analogloop/analogmac"
)

// Flags are the device flags of one command.
type Flags struct {
	Kind string // -device
	Chip uint64 // -chip
}

// Register defines -device and -chip on fs with the given defaults.
func (f *Flags) Register(fs *flag.FlagSet, kind string, chip uint64) {
	f.Kind, f.Chip = kind, chip
	fs.StringVar(&f.Kind, "device", kind, "device: "+strings.Join(Kinds(), ", "))
	fs.Uint64Var(&f.Chip, "chip", chip, "chip seed: which simulated chip (the same seed is always the same chip)")
}

// Kinds lists what -device accepts.
func Kinds() []string { return analogmac.Kinds() }

// Names reports the flags Register defines, for commands that check which
// flags apply.
func Names() []string { return []string{"device", "chip"} }

// Check reports a flag value that cannot work, naming the flag.
func (f *Flags) Check() error {
	if _, err := analogmac.Preset(f.Kind, f.Chip); err != nil {
		return fmt.Errorf("-device %s: want one of %s", f.Kind, strings.Join(Kinds(), ", "))
	}
	return nil
}

// Spec is the Spec of the device the flags name.
func (f *Flags) Spec() (analogmac.Spec, error) { return analogmac.Preset(f.Kind, f.Chip) }

// Open opens the device the flags name.
func (f *Flags) Open() (analogmac.Device, error) {
	s, err := f.Spec()
	if err != nil {
		return nil, err
	}
	return analogmac.New(s)
}

// OpenSpec opens a recorded device (a resumed run's): a simulated one is
// rebuilt from its Spec.
func OpenSpec(s analogmac.Spec) (analogmac.Device, error) { return analogmac.New(s) }
