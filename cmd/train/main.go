// Command train runs the analogloop experiment: train the BrainScaleS-2
// MNIST network in float on the host, move it to a simulated analog chip,
// retrain it with the chip in the loop, compare, and export the integer
// weights. With no flags it reproduces the reference run in results/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/train"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := train.DefaultConfig()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./cmd/train [flags]\n\n"+
			"Trains in float, moves the network to a simulated analog chip, retrains with the chip\n"+
			"in the loop, evaluates each stage and writes results, plots and exports to -out.\n"+
			"With no flags it reproduces the reference run committed in results/.\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Data, "data", "", "directory holding the four IDX files (default: $MNIST_DIR, then ./data/<dataset>; downloaded when missing)")
	fs.StringVar(&cfg.Dataset, "dataset", cfg.Dataset, "dataset: mnist or fashion-mnist")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "network: "+strings.Join(models.Kinds, " or ")+" (bss2-mnist is the BrainScaleS-2 MNIST network)")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "float training epochs on the host")
	fs.IntVar(&cfg.HILEpochs, "hil-epochs", cfg.HILEpochs, "retraining epochs with the device in the loop")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "training batch size")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "Adam learning rate of float training, in weight units (weights span -63..63)")
	fs.Float64Var(&cfg.HILLR, "hil-lr", cfg.HILLR, "Adam learning rate of in-the-loop retraining")
	fs.Float64Var(&cfg.LRDecay, "lr-decay", cfg.LRDecay, "learning-rate factor per epoch (StepLR gamma)")
	fs.IntVar(&cfg.Augment, "augment", cfg.Augment, "random image shifts of up to this many pixels during training (0: none)")
	fs.StringVar(&cfg.Device, "device", cfg.Device, "device in the loop and for evaluation: "+strings.Join(analogmac.Kinds(), ", "))
	fs.Uint64Var(&cfg.Chip, "chip", cfg.Chip, "chip seed: which simulated chip (the same seed is always the same chip)")
	fs.Uint64Var(&cfg.OtherChip, "other-chip", cfg.OtherChip, "seed of a second chip, never trained on, for the generalisation check")
	fs.IntVar(&cfg.Trials, "trials", cfg.Trials, "repeats of every chip evaluation, each with fresh trial-to-trial noise")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every other random draw: weights, shuffling, augmentation, noise")
	fs.Float64Var(&cfg.LogitScale, "logit-scale", cfg.LogitScale, "factor from output LSB to softmax logits")
	fs.IntVar(&cfg.TrainLimit, "train-limit", 0, "use only the first N training images (0: all); for quick looks")
	fs.IntVar(&cfg.TestLimit, "test-limit", 0, "use only the first N test images (0: all); for quick looks")
	out := fs.String("out", "results", "output directory for results, plots, exports and the checkpoint")
	resume := fs.Bool("resume", false, "continue the run whose checkpoint is in -out (its configuration is reused)")
	eval := fs.String("eval", "", "evaluate an exported model (path to its .json manifest) on -device/-chip over -trials, instead of training")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "train: unexpected arguments %q: all options are flags (-h lists them)\n", fs.Args())
		return 2
	}
	if *eval != "" {
		// Evaluating an export uses only these flags; the others describe
		// a training run and would be silently ignored.
		usable := map[string]bool{"eval": true, "device": true, "chip": true, "trials": true, "seed": true, "data": true}
		var ignored []string
		fs.Visit(func(f *flag.Flag) {
			if !usable[f.Name] {
				ignored = append(ignored, "-"+f.Name)
			}
		})
		if len(ignored) > 0 {
			fmt.Fprintf(stderr, "train: -eval uses only -device, -chip, -trials, -seed and -data; drop %s\n", strings.Join(ignored, " "))
			return 2
		}
		check := train.DefaultConfig()
		check.Device, check.Chip, check.OtherChip, check.Trials = cfg.Device, cfg.Chip, cfg.Chip+1, cfg.Trials
		if err := check.Validate(); err != nil {
			fmt.Fprintf(stderr, "train: bad flags:\n%v\n", err)
			return 2
		}
	} else if *resume {
		// A resumed run is the run that was started: its configuration
		// comes from the checkpoint, so other flags would be misleading.
		var ignored []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "resume" && f.Name != "out" && f.Name != "data" {
				ignored = append(ignored, "-"+f.Name)
			}
		})
		if len(ignored) > 0 {
			fmt.Fprintf(stderr, "train: -resume continues with the checkpoint's configuration; drop %s\n", strings.Join(ignored, " "))
			return 2
		}
	} else if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "train: bad flags:\n%v\n", err)
		return 2
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal the run finishes its batch and saves; a
		// second one gets Go's default behaviour and ends the process.
		<-ctx.Done()
		stop()
	}()

	if *eval != "" {
		return evaluate(ctx, *eval, cfg, progress, stdout, stderr, logger)
	}
	res, err := train.Run(ctx, cfg, train.Options{
		Out: *out, Resume: *resume, Logger: logger, Progress: progress,
		Command: strings.TrimSpace("go run ./cmd/train " + strings.Join(args, " ")),
	})
	if err != nil {
		// Errors carry their package's prefix ("train:", "mnist:", ...).
		fmt.Fprintln(stderr, err)
		if errors.Is(err, train.ErrInterrupted) {
			fmt.Fprintf(stderr, "resume with: go run ./cmd/train -resume -out %s\n", *out)
			return 130
		}
		return 1
	}
	fmt.Fprint(stdout, train.Table(res))
	fmt.Fprintf(stdout, "\nWritten to %s: results.json, results.md, curves.png, exports.\n", *out)
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
