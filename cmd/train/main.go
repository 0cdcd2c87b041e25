package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets/catalog"
	"github.com/analogloop/analogloop/datasets/mnist"
	"github.com/analogloop/analogloop/internal/cli"
	"github.com/analogloop/analogloop/internal/deviceflags"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/train"
)

// exitTempFail is the exit status of a run stopped because its device
// became unavailable, with its checkpoint saved: try again later
// (sysexits' EX_TEMPFAIL).
const exitTempFail = 75

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// fieldFlags names the flag of each train.Config field.
var fieldFlags = map[string]string{
	"Dataset": "dataset", "Model": "model", "Epochs": "epochs", "HILEpochs": "hil-epochs", "Batch": "batch",
	"LR": "lr", "HILLR": "hil-lr", "LRDecay": "lr-decay", "Augment": "augment", "Trials": "trials",
	"Seed": "seed", "LogitScale": "logit-scale", "TrainLimit": "train-limit", "TestLimit": "test-limit",
}

// flagErrors rewrites the library's field errors as flag errors.
func flagErrors(err error) string {
	return cli.FlagErrors(err, func(e error) (string, bool) {
		var fe *train.FieldError
		if errors.As(e, &fe) {
			if f, ok := fieldFlags[fe.Field]; ok {
				return fmt.Sprintf("-%s %v: want %s", f, fe.Value, fe.Want), true
			}
		}
		return "", false
	})
}

// datasetArg finds -dataset among args before parsing: the defaults of the
// other flags depend on it.
func datasetArg(args []string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, "dataset="); ok {
			return v
		}
		if a == "dataset" && i+1 < len(args) {
			return args[i+1]
		}
		if a == "" { // "--": the end of the flags
			break
		}
	}
	return "mnist"
}

// command is how the results record the command: the program as the user
// ran it.
func command(args []string) string { return cli.Command("train", args) }

func run(args []string, stdout, stderr io.Writer) int {
	dataset := datasetArg(args)
	cfg := train.DefaultConfigFor(dataset)
	model := cfg.Model.Name
	var dev deviceflags.Flags
	otherChip := uint64(2)
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [flags]\n\n"+
			"Trains in float, moves the network to a simulated analog chip, retrains with the chip\n"+
			"in the loop, evaluates each stage and writes results, plots and exports to -out.\n"+
			"With no flags it reproduces the reference run committed in results/.\n"+
			"-device remote -remote HOST:PORT trains with a chip served by cmd/chipd (docs/remote.md).\n"+
			"The defaults shown are MNIST's; -dataset yinyang has its own (see the README).\n\nflags:\n", command(nil))
		fs.PrintDefaults()
	}
	var dataDir string
	fs.StringVar(&dataDir, "data", "", "directory holding the four IDX files of mnist or fashion-mnist (default: $MNIST_DIR or $FASHION_MNIST_DIR, then ./data/<dataset>, then for fashion-mnist Debian's /usr/share/datasets/fashion-mnist; downloaded when missing)")
	fs.StringVar(&cfg.Dataset, "dataset", cfg.Dataset, "dataset: "+strings.Join(catalog.Names(), ", "))
	fs.StringVar(&model, "model", model, "network: "+strings.Join(models.Builtins(), ", ")+", or a .json network description (see docs/networks.md)")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "float training epochs on the host")
	fs.IntVar(&cfg.HILEpochs, "hil-epochs", cfg.HILEpochs, "retraining epochs with the device in the loop")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, fmt.Sprintf("training batch size (1..%d)", train.MaxBatch))
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "Adam learning rate of float training, in weight units (weights span -63..63)")
	fs.Float64Var(&cfg.HILLR, "hil-lr", cfg.HILLR, "Adam learning rate of in-the-loop retraining")
	fs.Float64Var(&cfg.LRDecay, "lr-decay", cfg.LRDecay, "learning-rate factor per epoch (StepLR gamma)")
	fs.IntVar(&cfg.Augment, "augment", cfg.Augment, "random image shifts of up to this many pixels during training (0: none)")
	dev.Register(fs, analogmac.KindChip, 1)
	fs.Uint64Var(&otherChip, "other-chip", otherChip, "seed of a second chip, never trained on, for the generalisation check (device chip only)")
	dev.RegisterOther(fs)
	fs.IntVar(&cfg.Trials, "trials", cfg.Trials, "repeats of every evaluation on a noisy device, each with fresh trial-to-trial noise")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every other random draw: weights, shuffling, augmentation, noise")
	fs.Float64Var(&cfg.LogitScale, "logit-scale", cfg.LogitScale, "factor from output LSB to softmax logits (0: the model's)")
	fs.IntVar(&cfg.TrainLimit, "train-limit", 0, "use only the first N training samples (0: all); for quick looks")
	fs.IntVar(&cfg.TestLimit, "test-limit", 0, "use only the first N test samples (0: all); for quick looks")
	parallel := fs.Int("parallel", 1, "evaluation trials run at once (results do not depend on it)")
	out := fs.String("out", "results", "output directory for results, plots, exports and the checkpoint")
	resume := fs.Bool("resume", false, "continue the run whose checkpoint is in -out (its configuration and devices are reused)")
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *eval != "" {
		// Evaluating an export uses only these flags; the others describe
		// a training run and would be silently ignored.
		usable := map[string]bool{"eval": true, "trials": true, "seed": true, "data": true}
		for _, n := range deviceflags.Names() {
			usable[n] = true
		}
		var ignored []string
		for name := range set {
			if !usable[name] {
				ignored = append(ignored, "-"+name)
			}
		}
		if len(ignored) > 0 {
			fmt.Fprintf(stderr, "train: -eval uses only -device, -chip (or -remote and its flags), -trials, -seed and -data; drop %s\n", strings.Join(ignored, " "))
			return 2
		}
		if cfg.Trials < 1 || cfg.Trials > 1000 {
			fmt.Fprintf(stderr, "train: bad flags:\n-trials %d: want 1..1000\n", cfg.Trials)
			return 2
		}
	} else if *resume {
		// A resumed run is the run that was started: its configuration
		// comes from the checkpoint, so other flags would be misleading.
		// Only where its chips are served may change: -device remote and
		// the servers' addresses, token and TLS.
		usable := map[string]bool{"resume": true, "out": true, "data": true, "parallel": true, "device": true, "other-remote": true}
		for _, n := range append(deviceflags.RemoteNames(), deviceflags.CalibrationNames()...) {
			usable[n] = true
		}
		var ignored []string
		for name := range set {
			if !usable[name] {
				ignored = append(ignored, "-"+name)
			}
		}
		if len(ignored) > 0 {
			fmt.Fprintf(stderr, "train: -resume continues with the checkpoint's configuration; drop %s\n", strings.Join(ignored, " "))
			return 2
		}
		if set["device"] && !dev.IsRemote() {
			fmt.Fprintf(stderr, "train: -resume uses the checkpoint's device; -device may only say remote (a server of that device at -remote)\n")
			return 2
		}
		if err := dev.Check(); err != nil {
			fmt.Fprintf(stderr, "train: bad flags:\n%v\n", err)
			return 2
		}
	} else {
		var problems []string
		if !catalog.Known(cfg.Dataset) {
			problems = append(problems, fmt.Sprintf("-dataset %s: want one of %s", cfg.Dataset, strings.Join(catalog.Names(), ", ")))
		}
		spec, err := modelSpec(model)
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			cfg.Model = spec
		}
		if err := dev.Check(); err != nil {
			problems = append(problems, err.Error())
		}
		if dev.Kind == analogmac.KindChip && otherChip == dev.Chip {
			problems = append(problems, fmt.Sprintf("-other-chip %d: want a chip seed different from -chip", otherChip))
		}
		if dev.IsRemote() && set["other-chip"] {
			problems = append(problems, "-other-chip: with -device remote the unseen chip is served at -other-remote HOST:PORT")
		}
		if *parallel < 1 || *parallel > train.MaxParallel {
			problems = append(problems, fmt.Sprintf("-parallel %d: want 1..%d", *parallel, train.MaxParallel))
		}
		if err := cfg.Validate(); err != nil {
			problems = append(problems, flagErrors(err))
		}
		if len(problems) > 0 {
			fmt.Fprintf(stderr, "train: bad flags:\n%s\n", strings.Join(problems, "\n"))
			return 2
		}
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	progress := cli.Progress(stderr)
	// After the first signal the run finishes its batch and saves; a
	// second one ends the process.
	ctx, stop := cli.SignalContext()
	defer stop()

	if *eval != "" {
		return evaluate(ctx, *eval, evalFlags{device: dev, trials: cfg.Trials, seed: cfg.Seed, data: dataDir}, progress, stdout, stderr, logger)
	}

	opt := train.Options{Out: *out, Resume: *resume, Logger: logger, Progress: progress, Parallel: *parallel, Command: command(args)}
	var recorded *train.Results // a resumed run's devices
	if *resume {
		ck, err := train.LoadCheckpoint(*out)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(stderr, "train: -resume: no checkpoint in %s\n", *out)
			} else {
				fmt.Fprintln(stderr, err)
			}
			return 1
		}
		cfg = ck.Config
		recorded = &ck.Results
	}
	if code := openDevices(ctx, &opt, dev, otherChip, recorded, stderr, logger); code != 0 {
		return code
	}
	if opt.InLoop != nil {
		defer opt.InLoop.Close()
	}
	if opt.Unseen != nil {
		defer opt.Unseen.Close()
	}
	var err error
	if opt.Data, err = catalog.Open(ctx, cfg.Dataset, catalog.Options{Dir: dataDir, Progress: progress, Logger: logger}); err != nil {
		fmt.Fprintln(stderr, dataHint(err))
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	res, err := train.Run(ctx, cfg, opt)
	if err != nil {
		// Errors carry their package's prefix ("train:", "mnist:", ...).
		var fe *train.FieldError
		if errors.As(err, &fe) {
			fmt.Fprintf(stderr, "train: bad flags:\n%s\n", flagErrors(err))
			return 2
		}
		if errors.Is(err, models.ErrInvalidSpec) {
			fmt.Fprintf(stderr, "train: -model %s: %v\n", model, err)
			return 2
		}
		fmt.Fprintln(stderr, err)
		if errors.Is(err, train.ErrInterrupted) {
			fmt.Fprintf(stderr, "resume with: %s\n", command([]string{"-resume", "-out", *out}))
			if errors.Is(err, analogmac.ErrUnavailable) {
				return exitTempFail
			}
			return 130
		}
		return 1
	}
	fmt.Fprint(stdout, train.Table(res))
	fmt.Fprintf(stdout, "\nWritten to %s: results.json, results.md, curves.png, exports.\n", *out)
	return 0
}

// dataHint adds the flag that names the data directory to an error of the
// loaders, which speak of their Go options.
func dataHint(err error) error {
	if errors.Is(err, mnist.ErrNotFound) {
		return fmt.Errorf("%w\n(-data DIR names the directory of the four files)", err)
	}
	return err
}

// openDevices opens the device in the loop and the unseen one, if any,
// into opt: for a new run those the flags name, for a resumed one
// (recorded set) those it recorded, rebuilt here when simulated or reached
// again at -remote and -other-remote (train.Run refuses a server that
// serves another device). It returns an exit code, 0 on success.
func openDevices(ctx context.Context, opt *train.Options, dev deviceflags.Flags, otherChip uint64, recorded *train.Results, stderr io.Writer, logger *slog.Logger) int {
	fail := func(what string, err error) int {
		fmt.Fprintf(stderr, "train: %s: %v\n", what, err)
		if opt.InLoop != nil {
			opt.InLoop.Close()
			opt.InLoop = nil
		}
		switch {
		case errors.Is(err, analogmac.ErrUnavailable):
			return exitTempFail
		case ctx.Err() != nil:
			return 130
		}
		return 1
	}
	var err error
	switch {
	case dev.IsRemote():
		if opt.InLoop, err = dev.Open(ctx, logger); err != nil {
			return fail("-remote "+dev.Remote, err)
		}
		if opt.Unseen, err = dev.OpenOther(ctx, logger); err != nil {
			return fail("-other-remote "+dev.OtherRemote, err)
		}
		if opt.Unseen == nil {
			logger.Info("the unseen-chip evaluation needs a second server (-other-remote HOST:PORT): skipped")
			return 0
		}
		if a, b := analogmac.Describe(opt.InLoop), analogmac.Describe(opt.Unseen); a.String() == b.String() {
			opt.Unseen.Close()
			opt.Unseen = nil
			return fail("-other-remote "+dev.OtherRemote, fmt.Errorf("serves %s, the chip at -remote: want another chip", b))
		}
	case recorded != nil:
		if opt.InLoop, err = dev.OpenSpec(recorded.Device); err != nil {
			return fail("device", err)
		}
		if recorded.UnseenDevice != nil {
			if opt.Unseen, err = dev.OpenSpec(*recorded.UnseenDevice); err != nil {
				return fail("unseen device", err)
			}
		}
	default:
		if opt.InLoop, err = dev.Open(ctx, logger); err != nil {
			return fail("device", err)
		}
		if dev.Kind != analogmac.KindChip {
			logger.Info("the unseen-chip evaluation needs -device chip: skipped", "device", dev.Kind)
			return 0
		}
		if dev.Calibrated() {
			// A calibration belongs to one chip; cmd/study evaluates
			// calibration on unseen chips, each with its own.
			logger.Info("a calibration belongs to its chip: the unseen-chip evaluation is skipped with -calibration")
			return 0
		}
		s, _ := analogmac.Preset(dev.Kind, otherChip)
		if opt.Unseen, err = analogmac.New(s); err != nil {
			return fail("unseen device", err)
		}
	}
	return 0
}

// modelSpec resolves -model: a built-in name or a JSON description file.
func modelSpec(model string) (models.Spec, error) {
	if strings.HasSuffix(model, ".json") {
		s, err := models.ReadSpec(model)
		if err != nil {
			return models.Spec{}, fmt.Errorf("-model %s: %w", model, err)
		}
		return s, nil
	}
	s, err := models.Builtin(model)
	if err != nil {
		return models.Spec{}, fmt.Errorf("-model %s: want one of %s, or a .json network description", model, strings.Join(models.Builtins(), ", "))
	}
	return s, nil
}
