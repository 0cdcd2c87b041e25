package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/analogloop/analogloop/datasets/catalog"
	"github.com/analogloop/analogloop/internal/cli"
	"github.com/analogloop/analogloop/study"
	"github.com/analogloop/analogloop/train"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// fieldFlags names the flag of each Config field (study's and train's).
var fieldFlags = map[string]string{
	"Epochs": "epochs", "HILEpochs": "hil-epochs", "Batch": "batch", "LR": "lr", "HILLR": "hil-lr",
	"LRDecay": "lr-decay", "Augment": "augment", "Trials": "trials", "Seed": "seed",
	"TrainLimit": "train-limit", "TestLimit": "test-limit", "Dataset": "dataset",
	"OwnChip": "chip", "Unseen": "unseen", "UnseenFirst": "unseen-first", "UnseenTrials": "unseen-trials",
	"TwinEpochs": "twin-epochs", "TwinChipEpochs": "twin-chip-epochs", "VAEpochs": "va-epochs",
	"VAChipEpochs": "va-chip-epochs", "MultiChips": "multi-chips", "MultiEpochs": "multi-epochs",
	"Sweep": "sweep", "SweepHILEpochs": "sweep-hil-epochs", "SweepTrials": "sweep-trials",
}

func flagErrors(err error) string {
	return cli.FlagErrors(err, func(e error) (string, bool) {
		var fe *study.FieldError
		var te *train.FieldError
		switch {
		case errors.As(e, &fe) && fieldFlags[fe.Field] != "":
			return fmt.Sprintf("-%s %v: want %s", fieldFlags[fe.Field], fe.Value, fe.Want), true
		case errors.As(e, &te) && fieldFlags[te.Field] != "":
			return fmt.Sprintf("-%s %v: want %s", fieldFlags[te.Field], te.Value, te.Want), true
		}
		return "", false
	})
}

func command(args []string) string { return cli.Command("study", args) }

// scales is the -sweep flag: comma-separated scales.
type scales []float64

func (s *scales) String() string {
	var p []string
	for _, v := range *s {
		p = append(p, strconv.FormatFloat(v, 'g', -1, 64))
	}
	return strings.Join(p, ",")
}

func (s *scales) Set(v string) error {
	*s = nil
	if strings.TrimSpace(v) == "" {
		return nil
	}
	for _, f := range strings.Split(v, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", f)
		}
		*s = append(*s, x)
	}
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := study.DefaultConfig()
	tc := &cfg.Train
	fs := flag.NewFlagSet("study", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [flags]\n\n"+
			"Trains every strategy from one float network, evaluates each on its own chip and on\n"+
			"unseen chips, runs the deviation sweep and writes the table, plots, results.json,\n"+
			"results.md, the own chip's calibration and every strategy's export to -out.\n"+
			"With no flags it reproduces results/study/. An interrupted study continues when the\n"+
			"same command is run again.\n\nflags:\n", command(nil))
		fs.PrintDefaults()
	}
	var dataDir string
	fs.StringVar(&dataDir, "data", "", "directory of the MNIST IDX files (default: $MNIST_DIR, then ./data/mnist; downloaded when missing)")
	fs.StringVar(&tc.Dataset, "dataset", tc.Dataset, "dataset: mnist or fashion-mnist (the BrainScaleS-2 network takes 28x28 images)")
	fs.IntVar(&tc.Epochs, "epochs", tc.Epochs, "float training epochs")
	fs.IntVar(&tc.HILEpochs, "hil-epochs", tc.HILEpochs, "epochs of strategy hil (in the loop, own chip)")
	fs.IntVar(&tc.Batch, "batch", tc.Batch, "training batch")
	fs.Float64Var(&tc.LR, "lr", tc.LR, "Adam learning rate of float training")
	fs.Float64Var(&tc.HILLR, "hil-lr", tc.HILLR, "Adam learning rate of every training after the float one")
	fs.Float64Var(&tc.LRDecay, "lr-decay", tc.LRDecay, "learning-rate factor per epoch")
	fs.IntVar(&tc.Augment, "augment", tc.Augment, "random image shifts of up to this many pixels in training")
	fs.IntVar(&tc.Trials, "trials", tc.Trials, "trials on each strategy's own chip")
	fs.Uint64Var(&tc.Seed, "seed", tc.Seed, "seed of every random draw (weights, shuffling, noise, random chips)")
	fs.IntVar(&tc.TrainLimit, "train-limit", 0, "use only the first N training samples (0: all); for quick looks")
	fs.IntVar(&tc.TestLimit, "test-limit", 0, "use only the first N test samples (0: all); for quick looks")
	fs.Uint64Var(&cfg.OwnChip, "chip", cfg.OwnChip, "seed of the own chip")
	fs.IntVar(&cfg.Unseen, "unseen", cfg.Unseen, "number K of unseen chips")
	fs.Uint64Var(&cfg.UnseenFirst, "unseen-first", cfg.UnseenFirst, "seed of the first unseen chip (then the next K-1)")
	fs.IntVar(&cfg.UnseenTrials, "unseen-trials", cfg.UnseenTrials, "trials on each unseen chip")
	fs.IntVar(&cfg.TwinEpochs, "twin-epochs", cfg.TwinEpochs, "epochs on the digital twin")
	fs.IntVar(&cfg.TwinChipEpochs, "twin-chip-epochs", cfg.TwinChipEpochs, "epochs in the loop after the twin")
	fs.IntVar(&cfg.VAEpochs, "va-epochs", cfg.VAEpochs, "variation-aware epochs (a fresh random chip every batch)")
	fs.IntVar(&cfg.VAChipEpochs, "va-chip-epochs", cfg.VAChipEpochs, "epochs in the loop after variation-aware training")
	fs.IntVar(&cfg.MultiChips, "multi-chips", cfg.MultiChips, "number N of chips in the loop for multi-chip training (the own chip and the next seeds)")
	fs.IntVar(&cfg.MultiEpochs, "multi-epochs", cfg.MultiEpochs, "multi-chip epochs")
	sw := scales(cfg.Sweep)
	fs.Var(&sw, "sweep", "scales of the fixed-pattern magnitudes for the deviation sweep, comma-separated")
	fs.IntVar(&cfg.SweepHILEpochs, "sweep-hil-epochs", cfg.SweepHILEpochs, "in-the-loop epochs at each sweep scale")
	fs.IntVar(&cfg.SweepTrials, "sweep-trials", cfg.SweepTrials, "trials per sweep point")
	fs.IntVar(&cfg.Timing.WaitBetweenEvents, "wait-between-events", cfg.Timing.WaitBetweenEvents, "timing model: FPGA cycles between input events (hxtorch: 5; its MNIST test: 2)")
	parallel := fs.Int("parallel", 2, "evaluation trials run at once (results do not depend on it)")
	out := fs.String("out", filepath.Join("results", "study"), "output directory")
	keep := fs.Bool("keep-state", false, "keep the finished stages ("+study.StateDir+") after the study completes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "study: unexpected arguments %q: all options are flags (-h lists them)\n", fs.Args())
		return 2
	}
	cfg.Sweep = sw
	var problems []string
	if tc.Dataset != "mnist" && tc.Dataset != "fashion-mnist" {
		problems = append(problems, fmt.Sprintf("-dataset %s: want mnist or fashion-mnist", tc.Dataset))
	}
	if *parallel < 1 || *parallel > train.MaxParallel {
		problems = append(problems, fmt.Sprintf("-parallel %d: want 1..%d", *parallel, train.MaxParallel))
	}
	if err := cfg.Validate(); err != nil {
		problems = append(problems, flagErrors(err))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "study: bad flags:\n%s\n", strings.Join(problems, "\n"))
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	progress := cli.Progress(stderr)
	ctx, stop := cli.SignalContext()
	defer stop()
	data, err := catalog.Open(ctx, tc.Dataset, catalog.Options{Dir: dataDir, Progress: progress, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	res, err := study.Run(ctx, cfg, study.Options{Out: *out, Data: data, Parallel: *parallel, Logger: logger,
		Progress: progress, Command: command(args), KeepState: *keep})
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, study.ErrInterrupted) {
			return 130
		}
		return 1
	}
	fmt.Fprint(stdout, study.Table(res))
	fmt.Fprintf(stdout, "\n%s\n", res.Findings.Text)
	for _, t := range res.Targets {
		fmt.Fprintf(stdout, "target %q: %s (met: %v)\n", t.Name, t.Got, t.Met)
	}
	fmt.Fprintf(stdout, "\nWritten to %s in %.0f s: %s\n", *out, res.WallSeconds, strings.Join(res.Files, ", "))
	return 0
}
