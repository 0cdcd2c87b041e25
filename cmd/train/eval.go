package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/analogloop/analogloop/datasets/mnist"
	"github.com/analogloop/analogloop/train"
)

// evaluate imports an export, proves it reproduces its recorded ideal-
// device accuracy, and measures it on -device/-chip over -trials.
func evaluate(ctx context.Context, manifest string, cfg train.Config, progress, stdout, stderr io.Writer, log *slog.Logger) int {
	net, m, err := train.Import(manifest)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	data, err := mnist.Load(ctx, mnist.Options{Dataset: m.Dataset, Dir: cfg.Data, Progress: progress, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ideal, err := m.CheckAccuracy(ctx, net, data.Test, 500)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", manifest, err)
		return 1
	}
	t, _, err := train.MeasureTrials(ctx, net, data.Test, cfg.Device, cfg.Chip, cfg.Trials, cfg.Seed, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s (%s, %s test set)\n", manifest, m.Model.Kind, m.Dataset)
	fmt.Fprintf(stdout, "  ideal device: %.2f %% (recorded %.2f %%: reproduced)\n", 100*ideal, 100*m.IdealAccuracy)
	where := cfg.Device
	if t.Chip != nil {
		where = fmt.Sprintf("chip %d", *t.Chip)
	}
	fmt.Fprintf(stdout, "  %s: %.2f ± %.2f %% over %d trials (recorded on its %s: %.2f ± %.2f %%)\n",
		where, 100*t.Mean, 100*t.Std, len(t.Trials), m.Device, 100*m.Accuracy.Mean, 100*m.Accuracy.Std)
	return 0
}
