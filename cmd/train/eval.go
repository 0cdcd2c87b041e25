package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/datasets/catalog"
	"github.com/analogloop/analogloop/export"
	"github.com/analogloop/analogloop/internal/deviceflags"
	"github.com/analogloop/analogloop/train"
)

// evalFlags are the flags -eval uses.
type evalFlags struct {
	device deviceflags.Flags
	seed   uint64
	trials int
	data   string
}

// evaluate imports an export, proves it reproduces its recorded ideal-
// device accuracy, and measures it on -device/-chip over -trials.
func evaluate(ctx context.Context, manifest string, f evalFlags, progress, stdout, stderr io.Writer, log *slog.Logger) int {
	net, m, err := export.Import(manifest)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// A signal ends the evaluation with status 130; it writes nothing.
	failed := func(err error) int {
		fmt.Fprintln(stderr, err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	dev, err := f.device.Open(ctx, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer dev.Close()
	data, err := catalog.Open(ctx, m.Dataset, catalog.Options{Dir: f.data, TestOnly: true, Progress: progress, Logger: log})
	if err != nil {
		return failed(dataHint(err))
	}
	ideal, err := m.CheckAccuracy(ctx, net, data.Test)
	if err != nil {
		return failed(fmt.Errorf("%s: %w", manifest, err))
	}
	test := data.Test.Head(m.IdealSamples)
	log.Info("evaluating", "manifest", manifest, "device", analogmac.Describe(dev).String(), "trials", f.trials, "samples", test.N)
	t, _, err := train.MeasureTrials(ctx, net, test, dev, train.TrialOptions{N: f.trials, Seed: f.seed})
	if err != nil {
		return failed(err)
	}
	fmt.Fprintf(stdout, "%s (%s, %s test set, %d samples)\n", manifest, m.Model.Name, m.Dataset, test.N)
	fmt.Fprintf(stdout, "  ideal device: %.2f %% (recorded %.2f %%: reproduced)\n", 100*ideal, 100*m.IdealAccuracy)
	fmt.Fprintf(stdout, "  %s: %.2f ± %.2f %% over %d trials (recorded on %s: %.2f ± %.2f %%)\n",
		analogmac.Describe(dev), 100*t.Mean, 100*t.Std, len(t.Trials), m.Device, 100*m.Accuracy.Mean, 100*m.Accuracy.Std)
	if hint := sameDevice(m.Device, analogmac.Describe(dev)); hint != "" {
		fmt.Fprintln(stdout, "  "+hint)
	}
	return 0
}

// sameDevice returns "" when the device measured is the one the export
// recorded, else a line that says so and, for a calibrated device, how to
// get the recorded one: the two accuracies are then not comparable.
func sameDevice(recorded, measured analogmac.Spec) string {
	if recorded.Equal(measured) {
		return ""
	}
	line := fmt.Sprintf("note: measured on %s, not on the recorded %s", measured, recorded)
	if recorded.Calibration != "" {
		line += fmt.Sprintf(" (its calibration file has the digest %s: give that file with -calibration FILE", recorded.Calibration)
		if recorded.Kind == calib.KindCalibratedWeights {
			line += " -calibrate-weights"
		}
		if recorded.Kind == calib.KindTwin {
			line = strings.Replace(line, "-calibration FILE", "-device twin -calibration FILE", 1)
		}
		line += ")"
	}
	return line
}
