package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets/mnist"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// Config is one experiment. DefaultConfig reproduces the reference run.
type Config struct {
	Dataset   string  `json:"dataset"`
	Data      string  `json:"data_dir,omitempty"`
	Model     string  `json:"model"`
	Epochs    int     `json:"epochs"`
	HILEpochs int     `json:"hil_epochs"`
	Batch     int     `json:"batch"`
	LR        float64 `json:"lr"`
	HILLR     float64 `json:"hil_lr"`
	LRDecay   float64 `json:"lr_decay_per_epoch"`
	Augment   int     `json:"augment_shift_px"`
	Device    string  `json:"device"`
	Chip      uint64  `json:"chip"`
	OtherChip uint64  `json:"other_chip"`
	Trials    int     `json:"trials"`
	Seed      uint64  `json:"seed"`
	// LogitScale turns output LSB into softmax logits.
	LogitScale float64 `json:"logit_scale"`
	// TrainLimit and TestLimit, when > 0, use only the first samples of
	// each split: for tests and quick looks, never for reported results.
	TrainLimit int `json:"train_limit,omitempty"`
	TestLimit  int `json:"test_limit,omitempty"`
}

// DefaultConfig is the reference experiment: `go run ./cmd/train` with no
// flags.
func DefaultConfig() Config {
	return Config{
		Dataset: "mnist", Model: models.BSS2MNISTKind,
		Epochs: 20, HILEpochs: 8, Batch: 100,
		LR: 0.3, HILLR: 0.03, LRDecay: 0.9, Augment: 1,
		Device: analogmac.KindChip, Chip: 1, OtherChip: 2, Trials: 10, Seed: 1,
		LogitScale: 0.25,
	}
}

// Validate reports the first value that cannot work, naming the flag.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag string, v any, want string) {
		errs = append(errs, fmt.Errorf("-%s %v: want %s", flag, v, want))
	}
	if c.Dataset != "mnist" && c.Dataset != "fashion-mnist" {
		bad("dataset", c.Dataset, "mnist or fashion-mnist")
	}
	if !slices.Contains(models.Kinds, c.Model) {
		bad("model", c.Model, fmt.Sprint("one of ", models.Kinds))
	}
	if c.Epochs < 0 {
		bad("epochs", c.Epochs, "0 or more")
	}
	if c.HILEpochs < 0 {
		bad("hil-epochs", c.HILEpochs, "0 or more")
	}
	if c.Batch < 1 || c.Batch > 60000 {
		bad("batch", c.Batch, "1..60000")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"lr", c.LR}, {"hil-lr", c.HILLR}, {"logit-scale", c.LogitScale}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			bad(f.name, f.v, "a positive number")
		}
	}
	if !(c.LRDecay > 0 && c.LRDecay <= 1) {
		bad("lr-decay", c.LRDecay, "in (0, 1]")
	}
	if c.Augment < 0 || c.Augment > 8 {
		bad("augment", c.Augment, "0..8 pixels")
	}
	if !slices.Contains(analogmac.Kinds(), c.Device) {
		bad("device", c.Device, fmt.Sprint("one of ", analogmac.Kinds()))
	}
	if c.Device == analogmac.KindChip && c.OtherChip == c.Chip {
		bad("other-chip", c.OtherChip, "a chip seed different from -chip")
	}
	if c.Trials < 1 {
		bad("trials", c.Trials, "1 or more")
	}
	if c.TrainLimit < 0 || c.TestLimit < 0 {
		bad("train-limit/-test-limit", fmt.Sprint(c.TrainLimit, " ", c.TestLimit), "0 (all) or more")
	}
	if c.TrainLimit > 0 && c.TrainLimit < c.Batch {
		bad("train-limit", c.TrainLimit, fmt.Sprint("at least one batch (", c.Batch, ")"))
	}
	return errors.Join(errs...)
}

// Trials is an accuracy measured over repeated runs with fresh noise, on
// the chip named (for the chip device).
type Trials struct {
	Chip *uint64 `json:"chip,omitempty"`
	AccuracyStats
}

// Results is results.json.
type Results struct {
	Accuracy struct {
		Float            float64 `json:"float"`
		Ideal            float64 `json:"ideal"`
		ChipDirect       Trials  `json:"chip_direct"`
		ChipHIL          Trials  `json:"chip_hil"`
		ChipHILOtherChip Trials  `json:"chip_hil_other_chip"`
		IdealHIL         float64 `json:"ideal_hil"`
	} `json:"accuracy"`
	Throughput struct {
		TrainFloat float64 `json:"train_float"`
		TrainHIL   float64 `json:"train_hil"`
		EvalChip   float64 `json:"eval_chip"`
	} `json:"throughput_img_per_s"`
	WallSeconds float64              `json:"wall_seconds"`
	Config      Config               `json:"config"`
	Model       models.Config        `json:"model"`
	Device      analogmac.DeviceInfo `json:"device"`
	History     struct {
		Float []EpochStats `json:"float"`
		HIL   []EpochStats `json:"hil"`
	} `json:"history"`
	Command  string   `json:"command"`
	Exports  []string `json:"exports,omitempty"`
	Complete bool     `json:"complete"`
}

// Phases of a run, in order; a checkpoint names the one in progress.
const (
	phaseFloat     = "float"
	phaseEvalFloat = "eval-float"
	phaseHIL       = "hil"
	phaseEvalHIL   = "eval-hil"
	phaseDone      = "done"
)

// Options are how a run reports and where it may stop.
type Options struct {
	Out      string
	Resume   bool
	Logger   *slog.Logger // nil: slog.Default()
	Progress io.Writer    // live progress line; nil: none
	Command  string       // recorded in the results
	// Data, when set, is used instead of loading Config.Dataset.
	Data *mnist.Data
	// onBatch, for tests, is called after every training batch.
	onBatch func(phase string, epoch, batch int)
}

// ErrInterrupted is returned when the context ends a run early; the
// checkpoint then holds everything needed to resume.
var ErrInterrupted = errors.New("train: interrupted")

// testHookRunner, for tests, sees the runner once its network exists.
var testHookRunner func(*runner)

// runner carries one run's state between phases.
type runner struct {
	cfg   Config
	opt   Options
	log   *slog.Logger
	data  *mnist.Data
	net   *models.Network
	ck    *Checkpoint
	start time.Time
	wall0 float64
}

// Run performs (or, with opt.Resume, continues) the experiment and writes
// its outputs into opt.Out.
func Run(ctx context.Context, cfg Config, opt Options) (*Results, error) {
	r := &runner{cfg: cfg, opt: opt, log: opt.Logger, start: time.Now()}
	if r.log == nil {
		r.log = slog.Default()
	}
	if err := checkWritable(opt.Out); err != nil {
		return nil, err
	}
	if opt.Resume {
		ck, err := LoadCheckpoint(opt.Out)
		if err != nil {
			if isNotExist(err) {
				return nil, fmt.Errorf("train: -resume: no checkpoint in %s", opt.Out)
			}
			return nil, err
		}
		data := cfg.Data
		r.cfg = ck.Config // a resumed run is the run that was started
		if data != "" {   // but its data may have moved
			r.cfg.Data = data
		}
		r.ck = ck
		r.wall0 = ck.Results.WallSeconds
		r.log.Info("resuming", "checkpoint", filepath.Join(opt.Out, CheckpointFile), "phase", ck.Phase, "epoch", ck.Epoch, "batch", ck.Partial.Batch)
	} else {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		// Starting afresh over an unfinished run would overwrite its
		// checkpoint with the first epoch of the new one.
		if ck, err := LoadCheckpoint(opt.Out); err == nil && ck.Phase != phaseDone {
			return nil, fmt.Errorf("train: %s holds an unfinished run (%s, epoch %d): continue it with -resume, or delete %s to start over",
				opt.Out, ck.Phase, ck.Epoch+1, filepath.Join(opt.Out, CheckpointFile))
		}
	}
	var err error
	if r.data, err = r.load(ctx); err != nil {
		return nil, err
	}
	if r.net, err = models.New(r.cfg.Model, models.Config{LogitScale: r.cfg.LogitScale}); err != nil {
		return nil, err
	}
	if r.ck == nil {
		r.net.Init(r.cfg.Seed)
		r.ck = &Checkpoint{Version: checkpointVersion, Config: r.cfg, Phase: phaseFloat}
		r.ck.Results.Config = r.cfg
		r.ck.Results.Model = r.net.Config
		r.ck.Results.Command = opt.Command
	} else {
		// The model is rebuilt from today's code: refuse to continue if
		// that gives other hyper-parameters than the run started with.
		if got, want := fmt.Sprint(r.net.Config), fmt.Sprint(r.ck.Results.Model); got != want {
			return nil, fmt.Errorf("train: the checkpoint's model was %s, this program builds %s: finish the run with the version that started it", want, got)
		}
		if err := r.restoreWeights(); err != nil {
			return nil, err
		}
	}
	if testHookRunner != nil {
		testHookRunner(r)
	}
	for r.ck.Phase != phaseDone {
		var err error
		switch r.ck.Phase {
		case phaseFloat:
			err = r.trainPhase(ctx, phaseFloat, r.cfg.Epochs, r.cfg.LR, nil, phaseEvalFloat)
		case phaseEvalFloat:
			err = r.evalFloat(ctx)
		case phaseHIL:
			dev, derr := r.device(r.cfg.Chip, 0)
			if derr != nil {
				return nil, derr
			}
			err = r.trainPhase(ctx, phaseHIL, r.cfg.HILEpochs, r.cfg.HILLR, dev, phaseEvalHIL)
		case phaseEvalHIL:
			err = r.evalHIL(ctx)
		default:
			err = fmt.Errorf("train: checkpoint names unknown phase %q", r.ck.Phase)
		}
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ErrNonFinite) {
				if serr := r.save(); serr != nil {
					return nil, errors.Join(err, serr)
				}
				return nil, fmt.Errorf("%w during %s: checkpoint saved in %s", ErrInterrupted, r.ck.Phase, opt.Out)
			}
			return nil, err
		}
	}
	res := &r.ck.Results
	res.Complete = true
	res.WallSeconds = r.wall0 + time.Since(r.start).Seconds()
	if err := r.writeOutputs(); err != nil {
		return nil, err
	}
	if err := r.save(); err != nil {
		return nil, err
	}
	return res, nil
}

func (r *runner) load(ctx context.Context) (*mnist.Data, error) {
	d := r.opt.Data
	if d == nil {
		var err error
		d, err = mnist.Load(ctx, mnist.Options{Dataset: r.cfg.Dataset, Dir: r.cfg.Data, Progress: r.opt.Progress, Logger: r.log})
		if err != nil {
			return nil, err
		}
	}
	limit := func(s *mnist.Set, n int) *mnist.Set {
		if n <= 0 || n >= s.N {
			return s
		}
		per := s.Rows * s.Cols
		return &mnist.Set{N: n, Rows: s.Rows, Cols: s.Cols, Images: s.Images[:n*per], Labels: s.Labels[:n]}
	}
	return &mnist.Data{Name: d.Name, Dir: d.Dir, Train: limit(d.Train, r.cfg.TrainLimit), Test: limit(d.Test, r.cfg.TestLimit)}, nil
}

// device returns a fresh device of the configured kind for a chip seed.
func (r *runner) device(chip, noise uint64) (analogmac.Device, error) {
	return analogmac.NewDevice(r.cfg.Device, chip, noise)
}

func (r *runner) restoreWeights() error {
	ps := r.net.Params()
	if len(ps) != len(r.ck.Weights) {
		return fmt.Errorf("train: checkpoint holds %d parameters, model %s has %d", len(r.ck.Weights), r.cfg.Model, len(ps))
	}
	for i, p := range ps {
		if len(p.Data()) != len(r.ck.Weights[i]) {
			return fmt.Errorf("train: checkpoint parameter %d has %d values, model wants %d", i, len(r.ck.Weights[i]), len(p.Data()))
		}
		copy(p.Data(), r.ck.Weights[i])
	}
	return nil
}

// save writes the checkpoint with the current weights.
func (r *runner) save() error {
	ps := r.net.Params()
	r.ck.Weights = make([][]float32, len(ps))
	for i, p := range ps {
		r.ck.Weights[i] = slices.Clone(p.Data())
	}
	r.ck.Results.WallSeconds = r.wall0 + time.Since(r.start).Seconds()
	return r.ck.Save(r.opt.Out)
}

// trainPhase runs a phase's epochs from the checkpoint's position, with a
// checkpoint after every epoch, then moves on to next.
func (r *runner) trainPhase(ctx context.Context, phase string, epochs int, lr float64, dev analogmac.Device, next string) error {
	r.net.Use(dev)
	gr, err := r.net.NewGraph(r.cfg.Batch, true)
	if err != nil {
		return err
	}
	defer gr.Close()
	ev, err := r.net.NewGraph(evalBatch, false)
	if err != nil {
		return err
	}
	defer ev.Close()
	adam := layers.NewAdam(lr)
	adam.State = r.ck.Adam
	hist := &r.ck.Results.History.Float
	if phase == phaseHIL {
		hist = &r.ck.Results.History.HIL
	}
	for r.ck.Epoch < epochs {
		e := r.ck.Epoch
		adam.LR = lr * math.Pow(r.cfg.LRDecay, float64(e))
		prog := r.progress(fmt.Sprintf("%s epoch %d/%d", phase, e+1, epochs))
		st, err := Epoch(ctx, gr, adam, r.data.Train, r.cfg.Augment, r.cfg.Seed, phase, e, &r.ck.Partial, r.batchHook(phase, e, prog))
		r.ck.Adam = adam.State
		r.endProgress()
		if err != nil {
			return err
		}
		// Test accuracy with this epoch's weights: in float mode exact; in
		// the loop one trial on the training device with its own noise.
		if ns, ok := dev.(analogmac.NoiseSeeder); ok {
			ns.SeedNoise(streamSeed(r.cfg.Seed, phase+"/test", e))
		}
		if st.TestAcc, err = Accuracy(ctx, ev, r.data.Test); err != nil {
			return err
		}
		*hist = append(*hist, st)
		r.log.Info("epoch", "phase", phase, "epoch", e+1, "of", epochs, "loss", round4(st.Loss), "train_acc", round4(st.TrainAcc),
			"test_acc", round4(st.TestAcc), "lr", round4(st.LR), "img_per_s", math.Round(st.ImgPerSec), "seconds", round4(st.Seconds))
		r.ck.Epoch++
		r.ck.Partial = Partial{}
		if err := r.save(); err != nil {
			return err
		}
	}
	tp := throughput(*hist)
	if phase == phaseHIL {
		r.ck.Results.Throughput.TrainHIL = tp
	} else {
		r.ck.Results.Throughput.TrainFloat = tp
	}
	r.ck.Phase, r.ck.Epoch, r.ck.Adam = next, 0, layers.AdamState{}
	return r.save()
}

func (r *runner) batchHook(phase string, epoch int, prog Progress) Progress {
	return func(done, total int, loss, ips float64) {
		if prog != nil {
			prog(done, total, loss, ips)
		}
		if r.opt.onBatch != nil {
			r.opt.onBatch(phase, epoch, done-1)
		}
	}
}

func throughput(h []EpochStats) float64 {
	var n, s float64
	for _, st := range h {
		n += st.ImgPerSec * st.Seconds
		s += st.Seconds
	}
	if s == 0 {
		return 0
	}
	return n / s
}

// evalBatch is the batch size of evaluation graphs: large batches amortise
// the per-call costs.
const evalBatch = 500

// evalFloat measures the float-trained network: in float, on the ideal
// device, and moved to the chip without retraining; then exports it.
func (r *runner) evalFloat(ctx context.Context) error {
	res := &r.ck.Results
	var err error
	if res.Accuracy.Float, err = r.once(ctx, nil); err != nil {
		return err
	}
	if res.Accuracy.Ideal, err = r.once(ctx, analogmac.NewIdeal()); err != nil {
		return err
	}
	if res.Accuracy.ChipDirect, err = r.trials(ctx, "chip_direct", r.cfg.Chip); err != nil {
		return err
	}
	r.log.Info("float network evaluated", "float", round4(res.Accuracy.Float), "ideal", round4(res.Accuracy.Ideal),
		"chip_direct_mean", round4(res.Accuracy.ChipDirect.Mean), "chip_direct_std", round4(res.Accuracy.ChipDirect.Std))
	if err := r.export("float", res.Accuracy.ChipDirect, res.Accuracy.Ideal); err != nil {
		return err
	}
	r.ck.Phase = phaseHIL
	return r.save()
}

// evalHIL measures the retrained network on its chip, on a chip it has
// never seen, and on the ideal device; then exports it.
func (r *runner) evalHIL(ctx context.Context) error {
	res := &r.ck.Results
	var err error
	if res.Accuracy.ChipHIL, err = r.trials(ctx, "chip_hil", r.cfg.Chip); err != nil {
		return err
	}
	if res.Accuracy.ChipHILOtherChip, err = r.trials(ctx, "chip_hil_other_chip", r.cfg.OtherChip); err != nil {
		return err
	}
	if res.Accuracy.IdealHIL, err = r.once(ctx, analogmac.NewIdeal()); err != nil {
		return err
	}
	r.log.Info("retrained network evaluated", "chip_hil_mean", round4(res.Accuracy.ChipHIL.Mean), "chip_hil_std", round4(res.Accuracy.ChipHIL.Std),
		"other_chip_mean", round4(res.Accuracy.ChipHILOtherChip.Mean), "ideal", round4(res.Accuracy.IdealHIL))
	if err := r.export("hil", res.Accuracy.ChipHIL, res.Accuracy.IdealHIL); err != nil {
		return err
	}
	r.ck.Phase = phaseDone
	return nil
}

// once evaluates on a noiseless backend (nil: float).
func (r *runner) once(ctx context.Context, dev analogmac.Device) (float64, error) {
	r.net.Use(dev)
	ev, err := r.net.NewGraph(evalBatch, false)
	if err != nil {
		return 0, err
	}
	defer ev.Close()
	return Accuracy(ctx, ev, r.data.Test)
}

// trials evaluates on the configured device for chip, Trials times, each
// with fresh trial-to-trial noise drawn from the run's seed.
func (r *runner) trials(ctx context.Context, name string, chip uint64) (Trials, error) {
	if r.ck.Results.Device.Kind == "" {
		dev, err := r.device(chip, 0)
		if err != nil {
			return Trials{}, err
		}
		r.ck.Results.Device = analogmac.Describe(dev)
	}
	t, ips, err := MeasureTrials(ctx, r.net, r.data.Test, r.cfg.Device, chip, r.cfg.Trials, streamSeed(r.cfg.Seed, name, 0), r.progress("evaluating "+name))
	r.endProgress()
	r.ck.Results.Throughput.EvalChip = ips
	return t, err
}

// MeasureTrials evaluates net on set on a device of the given kind and chip
// seed, n times, each trial on a fresh device whose noise seed is derived
// from seed, and returns the accuracies with their mean and std and the
// images per second evaluated. It leaves net on the last trial's device.
func MeasureTrials(ctx context.Context, net *models.Network, set *mnist.Set, kind string, chip uint64, n int, seed uint64, prog Progress) (Trials, float64, error) {
	t := Trials{AccuracyStats: AccuracyStats{Trials: make([]float64, n)}}
	if kind == analogmac.KindChip {
		t.Chip = &chip
	}
	ev, err := net.NewGraph(evalBatch, false)
	if err != nil {
		return t, 0, err
	}
	defer ev.Close()
	start := time.Now()
	for i := range t.Trials {
		dev, err := analogmac.NewDevice(kind, chip, streamSeed(seed, "trial", i))
		if err != nil {
			return t, 0, err
		}
		net.Use(dev)
		if t.Trials[i], err = Accuracy(ctx, ev, set); err != nil {
			return t, 0, err
		}
		if prog != nil {
			prog(i+1, n, 0, float64((i+1)*set.N)/time.Since(start).Seconds())
		}
	}
	t.Mean, t.Std = meanStd(t.Trials)
	return t, float64(n*set.N) / time.Since(start).Seconds(), nil
}

func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// export writes the network's integer weights and manifest as
// export-<name>.npz and export-<name>.json in the output directory.
func (r *runner) export(name string, t Trials, ideal float64) error {
	file := "export-" + name
	_, err := Export(r.opt.Out, file, r.net, ExportInfo{
		Dataset: r.cfg.Dataset, Device: r.cfg.Device, Chip: r.cfg.Chip,
		DeviceConfig: r.ck.Results.Device, Accuracy: t.AccuracyStats,
		IdealAccuracy: ideal, IdealSamples: r.data.Test.N,
		Note: fmt.Sprintf("%s network of `%s`", name, r.ck.Results.Command),
	}, r.data.Test)
	if err != nil {
		return err
	}
	if !slices.Contains(r.ck.Results.Exports, file+".json") {
		r.ck.Results.Exports = append(r.ck.Results.Exports, file+".json", file+".npz")
	}
	r.log.Info("exported", "manifest", filepath.Join(r.opt.Out, file+".json"))
	return nil
}
