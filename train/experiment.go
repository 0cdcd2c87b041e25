package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/export"
	"github.com/analogloop/analogloop/internal/rundir"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// Trials is an accuracy measured over repeated runs with fresh noise on
// one device.
type Trials struct {
	Chip *uint64 `json:"chip,omitempty"` // the chip seed, for a chip
	export.AccuracyStats
}

// DataInfo describes the data a run used.
type DataInfo struct {
	Name     string `json:"name"`
	Source   string `json:"source,omitempty"`
	Train    int    `json:"train"` // samples used, after TrainLimit
	Test     int    `json:"test"`  // samples used, after TestLimit
	Height   int    `json:"height"`
	Width    int    `json:"width"`
	Channels int    `json:"channels"`
	Classes  int    `json:"classes"`
}

// Results is results.json.
type Results struct {
	Accuracy struct {
		Float      float64 `json:"float"`
		Ideal      float64 `json:"ideal"`
		ChipDirect Trials  `json:"chip_direct"`
		ChipHIL    Trials  `json:"chip_hil"`
		// ChipHILOtherChip is absent when the run had no unseen device.
		ChipHILOtherChip *Trials `json:"chip_hil_other_chip,omitempty"`
		IdealHIL         float64 `json:"ideal_hil"`
	} `json:"accuracy"`
	Throughput struct {
		TrainFloat float64 `json:"train_float"`
		TrainHIL   float64 `json:"train_hil"`
		EvalChip   float64 `json:"eval_chip"`
	} `json:"throughput_img_per_s"`
	WallSeconds float64     `json:"wall_seconds"`
	Config      Config      `json:"config"`
	Model       models.Spec `json:"model"` // resolved: every default filled in
	Data        DataInfo    `json:"data"`
	// Device is the device in the loop, which the chip rows are measured
	// on; UnseenDevice the one never trained on, if any.
	Device       analogmac.Spec  `json:"device"`
	UnseenDevice *analogmac.Spec `json:"unseen_device,omitempty"`
	History      struct {
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

// MaxParallel bounds Options.Parallel on the command line: every parallel
// trial holds a graph of its own.
const MaxParallel = 64

// Options are what a run works on and how it reports.
type Options struct {
	// Out is the run directory: results, plots, exports, checkpoint.
	Out string
	// Resume continues the run whose checkpoint is in Out, with the
	// recorded Config (Run's cfg argument is then ignored).
	Resume bool
	// Data is what the run trains and evaluates on; its name must be
	// Config.Dataset.
	Data *datasets.Data
	// InLoop is the device trained with in the loop and evaluated on.
	InLoop analogmac.Device
	// Unseen, if set, is a device never trained on that the retrained
	// network is also evaluated on (another chip); without it that row is
	// skipped, and the log says so.
	Unseen analogmac.Device
	// Parallel is the number of evaluation trials run at once (0: 1;
	// the commands accept 1..MaxParallel). Results do not depend on it.
	Parallel int
	Logger   *slog.Logger // nil: slog.Default()
	Progress io.Writer    // live progress line; nil: none
	Command  string       // recorded in the results
	// onBatch, for tests, is called after every training batch.
	onBatch func(phase string, epoch, batch int)
}

// ErrInterrupted is returned when the context ends a run early; the
// checkpoint then holds everything needed to resume.
var ErrInterrupted = errors.New("train: interrupted")

// ErrMismatch is a resume whose data, devices or code differ from those
// the run started with.
var ErrMismatch = errors.New("train: does not match the run being resumed")

// testHookRunner, for tests, sees the runner once its network exists.
var testHookRunner func(*runner)

// runner carries one run's state between phases.
type runner struct {
	cfg   Config
	opt   Options
	log   *slog.Logger
	data  *datasets.Data
	net   *models.Network
	ck    *Checkpoint
	start time.Time
	wall0 float64
}

// Run performs (or, with opt.Resume, continues) the experiment and writes
// its outputs into opt.Out: train in float on the host; evaluate in float,
// on the ideal device and on opt.InLoop without retraining; retrain with
// opt.InLoop in the loop; evaluate on it, on opt.Unseen and on the ideal
// device; export both networks. Every random draw derives from cfg.Seed.
func Run(ctx context.Context, cfg Config, opt Options) (*Results, error) {
	r := &runner{cfg: cfg, opt: opt, log: opt.Logger, start: time.Now()}
	if r.log == nil {
		r.log = slog.Default()
	}
	if opt.InLoop == nil {
		return nil, errors.New("train: Options.InLoop: no device to train with")
	}
	if opt.Data == nil {
		return nil, errors.New("train: Options.Data: no data")
	}
	if err := opt.Data.Validate(); err != nil {
		return nil, err
	}
	if opt.Resume {
		ck, err := LoadCheckpoint(opt.Out)
		if err != nil {
			if isNotExist(err) {
				return nil, fmt.Errorf("train: resume: no checkpoint in %s", opt.Out)
			}
			return nil, err
		}
		r.cfg = ck.Config // a resumed run is the run that was started
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
	if r.data, err = r.limitData(opt.Data); err != nil {
		return nil, err
	}
	if r.net, err = r.build(); err != nil {
		return nil, err
	}
	// Only now, with everything checked, may the run touch the disk: one
	// process per directory, and nothing half-written from a killed one.
	lock, err := rundir.Lock(opt.Out)
	if err != nil {
		return nil, fmt.Errorf("train: output directory: %w", err)
	}
	defer lock.Unlock()
	if len(lock.Removed) > 0 {
		r.log.Info("removed half-written files of an interrupted run", "dir", opt.Out, "files", lock.Removed)
	}
	if err := checkWritable(opt.Out); err != nil {
		return nil, err
	}
	if opt.Resume {
		// Read again under the lock: another process may have moved the
		// run on between the first read and the lock.
		ck, err := LoadCheckpoint(opt.Out)
		if err != nil {
			return nil, err
		}
		r.ck = ck
	}
	if r.ck == nil {
		r.net.Init(r.cfg.Seed)
		r.ck = &Checkpoint{Version: checkpointVersion, Config: r.cfg, Phase: phaseFloat}
		res := &r.ck.Results
		res.Config, res.Model, res.Data = r.cfg, r.net.Spec, r.dataInfo()
		res.Device = analogmac.Describe(opt.InLoop)
		if opt.Unseen != nil {
			u := analogmac.Describe(opt.Unseen)
			res.UnseenDevice = &u
		}
		res.Command = opt.Command
	} else if err := r.checkResume(); err != nil {
		return nil, err
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
			err = r.trainPhase(ctx, phaseHIL, r.cfg.HILEpochs, r.cfg.HILLR, opt.InLoop, phaseEvalHIL)
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
			if errors.Is(err, analogmac.ErrUnavailable) {
				// The device is gone (a remote chip's server, for good):
				// keep what was done, to resume against a new one. The
				// batch in progress did not count, so the position is exact.
				if serr := r.save(); serr != nil {
					return nil, errors.Join(err, serr)
				}
				return nil, fmt.Errorf("%w during %s: checkpoint saved in %s: %w", ErrInterrupted, r.ck.Phase, opt.Out, err)
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

// limitData checks the data against the configuration and applies the
// limits.
func (r *runner) limitData(d *datasets.Data) (*datasets.Data, error) {
	c := r.cfg
	if d.Name != c.Dataset {
		return nil, fmt.Errorf("train: Config.Dataset is %q, the data is %q", c.Dataset, d.Name)
	}
	if c.TrainLimit > d.Train.N {
		return nil, &FieldError{Field: "TrainLimit", Value: c.TrainLimit, Want: fmt.Sprintf("at most the %d training samples of %s", d.Train.N, d.Name)}
	}
	if c.TestLimit > d.Test.N {
		return nil, &FieldError{Field: "TestLimit", Value: c.TestLimit, Want: fmt.Sprintf("at most the %d test samples of %s", d.Test.N, d.Name)}
	}
	train := d.Train.Head(c.TrainLimit)
	if c.Batch > train.N {
		return nil, &FieldError{Field: "Batch", Value: c.Batch, Want: fmt.Sprintf("at most the %d training samples", train.N)}
	}
	if c.Augment > 0 && (train.Height < 2*c.Augment+1 || train.Width < 2*c.Augment+1) {
		return nil, &FieldError{Field: "Augment", Value: c.Augment,
			Want: fmt.Sprintf("0: shifts of %d pixels need images, %s samples are %dx%d", c.Augment, d.Name, train.Height, train.Width)}
	}
	return &datasets.Data{Name: d.Name, Source: d.Source, Train: train, Test: d.Test.Head(c.TestLimit)}, nil
}

func (r *runner) dataInfo() DataInfo {
	d := r.data
	return DataInfo{Name: d.Name, Source: d.Source, Train: d.Train.N, Test: d.Test.N,
		Height: d.Train.Height, Width: d.Train.Width, Channels: d.Train.Channels, Classes: d.Train.Classes}
}

// build makes the configured network for the data.
func (r *runner) build() (*models.Network, error) {
	spec := r.cfg.Model.Clone()
	if r.cfg.LogitScale != 0 {
		spec.LogitScale = r.cfg.LogitScale
	}
	t := r.data.Train
	return models.Build(spec, models.Input{Height: t.Height, Width: t.Width, Channels: t.Channels}, t.Classes)
}

// checkResume refuses to continue a run on other data, other devices or a
// network that today's code builds differently.
func (r *runner) checkResume() error {
	res := &r.ck.Results
	if got, want := jsonOf(r.net.Spec), jsonOf(res.Model); got != want {
		return fmt.Errorf("%w: the checkpoint's model was %s, this program builds %s: finish the run with the version that started it", ErrMismatch, want, got)
	}
	if got := r.dataInfo(); got.Train != res.Data.Train || got.Test != res.Data.Test || got.Classes != res.Data.Classes {
		return fmt.Errorf("%w: the run used %s with %d/%d samples, this data has %d/%d", ErrMismatch, res.Data.Name, res.Data.Train, res.Data.Test, got.Train, got.Test)
	}
	if got := analogmac.Describe(r.opt.InLoop); !got.Equal(res.Device) {
		return fmt.Errorf("%w: the run trains with %v, this device is %v", ErrMismatch, res.Device, got)
	}
	switch {
	case res.UnseenDevice == nil && r.opt.Unseen != nil:
		return fmt.Errorf("%w: the run has no unseen device, this resume gives one (%v)", ErrMismatch, analogmac.Describe(r.opt.Unseen))
	case res.UnseenDevice != nil && r.opt.Unseen == nil:
		return fmt.Errorf("%w: the run also evaluates on the unseen %v: give that device again", ErrMismatch, *res.UnseenDevice)
	case res.UnseenDevice != nil && !analogmac.Describe(r.opt.Unseen).Equal(*res.UnseenDevice):
		return fmt.Errorf("%w: the run's unseen device is %v, this one is %v", ErrMismatch, *res.UnseenDevice, analogmac.Describe(r.opt.Unseen))
	}
	if err := r.restoreWeights(); err != nil {
		return err
	}
	return nil
}

// jsonOf is v's JSON: how recorded descriptions are compared.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	return string(b)
}

func (r *runner) restoreWeights() error {
	ps := r.net.Params()
	if len(ps) != len(r.ck.Weights) {
		return fmt.Errorf("%w: checkpoint holds %d parameters, the model has %d", ErrMismatch, len(r.ck.Weights), len(ps))
	}
	for i, p := range ps {
		if len(p.Data()) != len(r.ck.Weights[i]) {
			return fmt.Errorf("%w: checkpoint parameter %d has %d values, the model wants %d", ErrMismatch, i, len(r.ck.Weights[i]), len(p.Data()))
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

// trainPhase runs a phase's epochs from the checkpoint's position on dev
// (nil: float), with a checkpoint after every epoch, then moves on to next.
func (r *runner) trainPhase(ctx context.Context, phase string, epochs int, lr float64, dev analogmac.Device, next string) error {
	gr, err := r.net.NewGraph(models.GraphOptions{Batch: r.cfg.Batch, Train: true, On: dev})
	if err != nil {
		return err
	}
	defer gr.Close()
	ev, err := r.net.NewEvalGraph(r.data.Test.N, dev)
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
		st, err := Epoch(ctx, gr, adam, EpochOptions{
			Set: r.data.Train, Augment: r.cfg.Augment, Seed: r.cfg.Seed, Stream: phase, Epoch: e,
			Partial: &r.ck.Partial, Progress: r.batchHook(phase, e, prog),
		})
		r.ck.Adam = adam.State
		r.endProgress()
		if err != nil {
			return err
		}
		// Test accuracy with this epoch's weights: in float mode exact; in
		// the loop one trial on the training device with its own noise.
		if st.TestAcc, err = Accuracy(ctx, ev, r.data.Test, analogmac.NewNoiseKeys(streamSeed(r.cfg.Seed, phase+"/test", e))); err != nil {
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

// evalFloat measures the float-trained network: in float, on the ideal
// device, and moved to the in-loop device without retraining; then
// exports it.
func (r *runner) evalFloat(ctx context.Context) error {
	res := &r.ck.Results
	var err error
	if res.Accuracy.Float, err = r.net.Accuracy(ctx, nil, r.data.Test); err != nil {
		return err
	}
	if res.Accuracy.Ideal, err = r.net.Accuracy(ctx, export.IdealDevice(r.net), r.data.Test); err != nil {
		return err
	}
	if res.Accuracy.ChipDirect, err = r.trials(ctx, "chip_direct", r.opt.InLoop); err != nil {
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

// evalHIL measures the retrained network on its device, on the unseen
// device, and on the ideal device; then exports it.
func (r *runner) evalHIL(ctx context.Context) error {
	res := &r.ck.Results
	var err error
	if res.Accuracy.ChipHIL, err = r.trials(ctx, "chip_hil", r.opt.InLoop); err != nil {
		return err
	}
	if r.opt.Unseen != nil {
		t, err := r.trials(ctx, "chip_hil_other_chip", r.opt.Unseen)
		if err != nil {
			return err
		}
		res.Accuracy.ChipHILOtherChip = &t
	} else {
		res.Accuracy.ChipHILOtherChip = nil
		r.log.Info("no unseen device given: the retrained network is not evaluated on a chip it never saw")
	}
	if res.Accuracy.IdealHIL, err = r.net.Accuracy(ctx, export.IdealDevice(r.net), r.data.Test); err != nil {
		return err
	}
	args := []any{"chip_hil_mean", round4(res.Accuracy.ChipHIL.Mean), "chip_hil_std", round4(res.Accuracy.ChipHIL.Std), "ideal", round4(res.Accuracy.IdealHIL)}
	if o := res.Accuracy.ChipHILOtherChip; o != nil {
		args = append(args, "other_chip_mean", round4(o.Mean))
	}
	r.log.Info("retrained network evaluated", args...)
	if err := r.export("hil", res.Accuracy.ChipHIL, res.Accuracy.IdealHIL); err != nil {
		return err
	}
	r.ck.Phase = phaseDone
	return nil
}

// trials evaluates on dev Trials times, each with fresh trial-to-trial
// noise drawn from the run's seed.
func (r *runner) trials(ctx context.Context, name string, dev analogmac.Device) (Trials, error) {
	t, ips, err := MeasureTrials(ctx, r.net, r.data.Test, dev, TrialOptions{
		N: r.cfg.Trials, Seed: streamSeed(r.cfg.Seed, name, 0), Parallel: r.opt.Parallel,
		Progress: r.progress("evaluating " + name),
	})
	r.endProgress()
	r.ck.Results.Throughput.EvalChip = ips
	return t, err
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// export writes the network's integer weights and manifest as
// export-<name>.npz and export-<name>.json in the output directory.
func (r *runner) export(name string, t Trials, ideal float64) error {
	file := "export-" + name
	_, err := export.Export(r.opt.Out, file, r.net, export.Info{
		Dataset: r.cfg.Dataset, Device: r.ck.Results.Device, Accuracy: t.AccuracyStats,
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
