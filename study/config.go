package study

import (
	"errors"
	"fmt"
	"math"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/chiptime"
	"github.com/analogloop/analogloop/train"
)

// Config is a study's every setting, as data: recorded in the results and
// in every stage it caches, so that a continued study is the study that
// was started.
type Config struct {
	// Train holds the float training and the in-the-loop settings of the
	// reference experiment (train.DefaultConfig): epochs, learning rates,
	// batch, augmentation, the seed that fixes every draw, the model.
	// Train.Trials is the number of trials on each strategy's own chip;
	// Train.HILEpochs the in-the-loop epochs of strategy "hil".
	Train train.Config `json:"train"`
	// OwnChip is the chip every strategy that uses a chip trains with and
	// is evaluated on first.
	OwnChip uint64               `json:"own_chip"`
	Chip    analogmac.ChipConfig `json:"chip"`
	// Unseen chips are the seeds UnseenFirst .. UnseenFirst+Unseen-1: no
	// strategy trains on them. UnseenTrials trials on each.
	Unseen       int    `json:"unseen"`
	UnseenFirst  uint64 `json:"unseen_first"`
	UnseenTrials int    `json:"unseen_trials"`
	// TwinEpochs on the own chip's digital twin, then TwinChipEpochs with
	// the own chip in the loop.
	TwinEpochs     int `json:"twin_epochs"`
	TwinChipEpochs int `json:"twin_chip_epochs"`
	// VAEpochs of variation-aware training (a fresh random chip every
	// batch), then VAChipEpochs with the own chip in the loop for
	// strategy "va-hil".
	VAEpochs     int `json:"va_epochs"`
	VAChipEpochs int `json:"va_chip_epochs"`
	// MultiChips chips (the own chip and the next seeds) in the loop in
	// turn, batch by batch, for MultiEpochs.
	MultiChips  int `json:"multi_chips"`
	MultiEpochs int `json:"multi_epochs"`
	// Sweep scales the chip's fixed-pattern magnitudes (column gain,
	// column offset, synapse mismatch together); at each scale the own
	// chip is evaluated directly, calibrated and after SweepHILEpochs in
	// the loop, each over SweepTrials trials.
	Sweep          []float64 `json:"sweep"`
	SweepHILEpochs int       `json:"sweep_hil_epochs"`
	SweepTrials    int       `json:"sweep_trials"`
	// Timing is the chip-time model of every estimate.
	Timing chiptime.Model `json:"timing"`
}

// DefaultConfig is `go run ./cmd/study` with no flags.
func DefaultConfig() Config {
	return Config{
		Train:   train.DefaultConfig(),
		OwnChip: 1, Chip: analogmac.DefaultChipConfig(),
		Unseen: 10, UnseenFirst: 101, UnseenTrials: 3,
		TwinEpochs: 8, TwinChipEpochs: 1,
		VAEpochs: 8, VAChipEpochs: 1,
		MultiChips: 4, MultiEpochs: 8,
		Sweep: []float64{0, 0.5, 1, 2, 3, 4}, SweepHILEpochs: 8, SweepTrials: 3,
		Timing: chiptime.Default(),
	}
}

// Limits of a study's sizes.
const (
	MaxUnseen  = 100
	MaxChips   = 64
	MaxEpochs  = 200
	MaxTrials  = 1000
	MaxScale   = 20.0
	MaxScales  = 16
	vaSeedMark = 1 << 63 // every variation-aware chip seed has it; no other chip does
)

// FieldError is a Config value that cannot work; Field is the Go field.
type FieldError struct {
	Field string
	Value any
	Want  string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("study: Config.%s = %v: want %s", e.Field, e.Value, e.Want)
}

// Validate reports every value that cannot work, each a *FieldError or
// the train.Config's errors.
func (c Config) Validate() error {
	var errs []error
	if err := c.Train.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Chip.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Timing.Validate(); err != nil {
		errs = append(errs, err)
	}
	bad := func(field string, v any, want string) { errs = append(errs, &FieldError{field, v, want}) }
	if c.OwnChip >= vaSeedMark {
		bad("OwnChip", c.OwnChip, "below 2^63 (seeds from 2^63 on are variation-aware training's)")
	}
	if c.Unseen < 1 || c.Unseen > MaxUnseen {
		bad("Unseen", c.Unseen, fmt.Sprintf("1..%d chips", MaxUnseen))
	}
	if c.UnseenTrials < 1 || c.UnseenTrials > MaxTrials {
		bad("UnseenTrials", c.UnseenTrials, fmt.Sprintf("1..%d", MaxTrials))
	}
	if c.MultiChips < 2 || c.MultiChips > MaxChips {
		bad("MultiChips", c.MultiChips, fmt.Sprintf("2..%d chips", MaxChips))
	}
	// The unseen chips must be seen by nobody: not the own chip, not the
	// multi-chip set (own .. own+MultiChips-1), not variation-aware
	// training (seeds >= 2^63).
	lo, hi := c.UnseenFirst, c.UnseenFirst+uint64(max(c.Unseen, 0))
	if hi < lo || hi > vaSeedMark {
		bad("UnseenFirst", c.UnseenFirst, "seeds that stay below 2^63")
	}
	if ownLo, ownHi := c.OwnChip, c.OwnChip+uint64(max(c.MultiChips, 1)); ownLo < hi && lo < ownHi {
		bad("UnseenFirst", c.UnseenFirst, fmt.Sprintf("unseen chips %d..%d disjoint from the chips trained on, %d..%d", lo, hi-1, ownLo, ownHi-1))
	}
	for _, e := range []struct {
		name string
		v    int
		min  int
	}{
		{"TwinEpochs", c.TwinEpochs, 0}, {"TwinChipEpochs", c.TwinChipEpochs, 0},
		{"VAEpochs", c.VAEpochs, 1}, {"VAChipEpochs", c.VAChipEpochs, 0},
		{"MultiEpochs", c.MultiEpochs, 1}, {"SweepHILEpochs", c.SweepHILEpochs, 0},
	} {
		if e.v < e.min || e.v > MaxEpochs {
			bad(e.name, e.v, fmt.Sprintf("%d..%d epochs", e.min, MaxEpochs))
		}
	}
	if c.SweepTrials < 1 || c.SweepTrials > MaxTrials {
		bad("SweepTrials", c.SweepTrials, fmt.Sprintf("1..%d", MaxTrials))
	}
	if len(c.Sweep) < 1 || len(c.Sweep) > MaxScales {
		bad("Sweep", c.Sweep, fmt.Sprintf("1..%d scales", MaxScales))
	}
	seen := map[float64]bool{}
	for _, s := range c.Sweep {
		if !(s >= 0 && s <= MaxScale) || math.IsNaN(s) {
			bad("Sweep", s, fmt.Sprintf("scales in 0..%g", MaxScale))
		} else if seen[s] {
			bad("Sweep", s, "each scale once")
		}
		seen[s] = true
	}
	return errors.Join(errs...)
}

// unseenChips lists the unseen chip seeds.
func (c Config) unseenChips() []uint64 {
	s := make([]uint64, c.Unseen)
	for i := range s {
		s[i] = c.UnseenFirst + uint64(i)
	}
	return s
}

// multiChips lists the chips of multi-chip training: the own chip first.
func (c Config) multiChips() []uint64 {
	s := make([]uint64, c.MultiChips)
	for i := range s {
		s[i] = c.OwnChip + uint64(i)
	}
	return s
}

// scaled returns the chip configuration with the fixed-pattern magnitudes
// (column gain, column offset, synapse mismatch) multiplied by s.
func (c Config) scaled(s float64) analogmac.ChipConfig {
	cfg := c.Chip
	cfg.ColumnGainStd *= s
	cfg.ColumnOffsetStd *= s
	cfg.SynapseMismatchStd *= s
	return cfg
}

// protocol is the characterisation protocol of chip seed: the default for
// the chip's gain, its noise keys drawn from the study's seed and the chip.
func (c Config) protocol(chip uint64, scale float64) calib.Protocol {
	p := calib.DefaultProtocol(c.Chip.GainPerSend)
	p.Noise = train.StreamSeed(c.Train.Seed, fmt.Sprintf("calibrate/%d/%g", chip, scale), 0)
	return p
}
