package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/internal/atomicfile"
	"github.com/analogloop/analogloop/internal/deviceflags"
	"github.com/analogloop/analogloop/plots"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "characterize:", err)
		os.Exit(2)
	}
}

// report is parameters.json.
type report struct {
	Device     analogmac.Spec       `json:"device"`
	NoiseSeed  *uint64              `json:"noise_seed,omitempty"` // none for ideal
	Experiment experiment           `json:"experiment"`
	Configured configured           `json:"configured"`
	Measured   analogmac.Parameters `json:"measured"`
	Methods    map[string]string    `json:"methods"`
}

type experiment struct {
	Rows      int                 `json:"rows"`
	Weights   string              `json:"weights"`
	Inputs    []int               `json:"inputs"`
	Repeats   int                 `json:"repeats"`
	Sends     int                 `json:"sends"`
	Placement analogmac.Placement `json:"placement"`
}

// configured holds the configured counterparts of the measured values.
// TrialNoiseAfterFloor is what the measurement should see: the floor adds
// 1/12 LSB^2 of quantisation noise.
type configured struct {
	Gain                 float64 `json:"gain"`
	TrialNoise           float64 `json:"trial_noise"`
	TrialNoiseAfterFloor float64 `json:"trial_noise_after_floor"`
	ColumnOffsetStd      float64 `json:"column_offset_std"`
	ColumnGainStd        float64 `json:"column_gain_std"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("characterize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", filepath.Join("results", "characterization"), "output directory (created if missing)")
	var dev deviceflags.Flags
	dev.Register(fs, analogmac.KindChip, 1)
	noiseSeed := fs.Uint64("seed", 1, "noise seed: the runs' noise keys")
	repeats := fs.Int("repeats", analogmac.CharacterizationRepeats, "runs per input vector (at least 2)")
	sends := fs.Int("sends", analogmac.CharacterizationSends, "sends per run (at least 1)")
	whole := fs.Bool("whole-array", false, "instead: characterise all 512 columns (and every synapse), fit each column's model and write the calibration file calibration.json and calibration.png to -out (docs/calibration.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case dev.Check() != nil:
		return dev.Check()
	case *repeats < 2:
		return fmt.Errorf("-repeats %d: need at least 2 for a std", *repeats)
	case *sends < 1 || *sends > analogmac.MaxSends:
		return fmt.Errorf("-sends %d: want 1..%d", *sends, analogmac.MaxSends)
	case *out == "":
		return errors.New("-out: empty directory name")
	}
	d, err := dev.Open(context.Background(), nil)
	if err != nil {
		return err
	}
	defer d.Close()
	if *whole {
		return calibrate(d, *noiseSeed, *out, stdout)
	}
	ch, err := analogmac.Characterize(context.Background(), d, analogmac.CharacterizeOptions{Repeats: *repeats, Sends: *sends, Noise: *noiseSeed})
	if err != nil {
		return err
	}

	info := ch.Device
	rep := report{
		Device: info,
		Experiment: experiment{
			Rows:    analogmac.BlockRows,
			Weights: fmt.Sprintf("%d..%d, one value per column, the same in all rows", ch.Weights[0], ch.Weights[len(ch.Weights)-1]),
			Inputs:  ch.Inputs, Repeats: ch.Repeats, Sends: ch.Sends,
		},
		Configured: configured{
			Gain:                 info.GainPerSend,
			TrialNoise:           info.NoiseStd,
			TrialNoiseAfterFloor: math.Sqrt(info.NoiseStd*info.NoiseStd + 1.0/12),
		},
		Measured: ch.Params,
		Methods:  ch.Params.Methods(),
	}
	if info.Kind == analogmac.KindIdeal {
		rep.Configured.TrialNoiseAfterFloor = 0 // no noise to dither the floor
	}
	if info.Chip != nil {
		rep.Configured.ColumnOffsetStd = info.Chip.ColumnOffsetStd
		rep.Configured.ColumnGainStd = info.Chip.ColumnGainStd
	}
	if info.NoiseStd > 0 {
		rep.NoiseSeed = noiseSeed
	}

	var csv, png bytes.Buffer
	if err := ch.WriteCSV(&csv); err != nil {
		return err
	}
	if err := plots.Characterization(&png, ch); err != nil {
		return err
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false) // keep ">=" readable in the method notes
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for name, b := range map[string][]byte{
		"characterization.csv": csv.Bytes(),
		"characterization.png": png.Bytes(),
		"parameters.json":      js.Bytes(),
	} {
		if err := atomicfile.Write(filepath.Join(*out, name), b); err != nil {
			return err
		}
	}
	p := ch.Params
	fmt.Fprintf(stdout, "%s: gain %.5f (configured %.5f), trial noise %.3f LSB (configured %.3f), fixed-pattern spread %.3f LSB; wrote %s\n",
		ch.Title(), p.Gain, info.GainPerSend, p.TrialNoise, info.NoiseStd, p.FixedPatternSpread, *out)
	return nil
}

// calibrate runs calib's whole-array protocol on d and writes the
// calibration file and its figure.
func calibrate(d analogmac.Device, noise uint64, out string, stdout io.Writer) error {
	p := calib.DefaultProtocol(d.Gain())
	p.Noise = noise
	cal, err := calib.Characterize(context.Background(), d, p)
	if err != nil {
		return err
	}
	var png bytes.Buffer
	if err := plots.Calibration(&png, "Calibration of "+cal.Device.String(), cal); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(out, "calibration.json")
	if err := cal.Write(path); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(out, "calibration.png"), png.Bytes()); err != nil {
		return err
	}
	s, c := cal.Summary, cal.Cost
	fmt.Fprintf(stdout, "calibration of %s: column gain %.3f ± %.3f, offset %.2f ± %.2f LSB, trial noise %.2f LSB; cost %d programs, %d runs, %.2f s of chip time\nwrote %s (%s) and calibration.png\n",
		cal.Device, s.GainMean, s.GainStd, s.OffsetMean, s.OffsetStd, s.NoiseMean, c.Counts.Programs, c.Counts.Runs, c.Seconds, path, cal.Digest())
	return nil
}
