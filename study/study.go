package study

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/chiptime"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/export"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/train"
)

// Options are what a study works on and how it reports.
type Options struct {
	// Out is the output directory: results, plots, exports, calibration,
	// and while the study runs its state (StateDir).
	Out  string
	Data *datasets.Data
	// Parallel is the number of evaluation trials run at once (0: 1);
	// results do not depend on it.
	Parallel int
	Logger   *slog.Logger
	// Progress, if set, receives a live progress line (a terminal).
	Progress io.Writer
	Command  string
	// KeepState keeps StateDir after the study completes.
	KeepState bool
}

// ErrInterrupted is returned when the context ends a study early; every
// finished stage is saved and the same call continues.
var ErrInterrupted = errors.New("study: interrupted")

type runner struct {
	cfg   Config
	opt   Options
	log   *slog.Logger
	data  *datasets.Data
	spec  models.Spec
	fp    string
	start time.Time
	res   *Results

	float  *models.Network
	ownCal *calib.Calibration
	// cals caches the unseen chips' calibrations for the calibrated rows.
	cals map[uint64]*calib.Calibration
	// nets holds finished stages' networks by stage name.
	nets map[string]*models.Network
	// work is the network every device training and evaluation runs on,
	// with its graphs (see workNet).
	work    *models.Network
	trainGr *models.Graph
	evalGrs []*models.Graph
	// priorWall is the wall time of earlier sessions of a continued study.
	priorWall float64
}

// Run performs the study (continuing it when Out holds its state) and
// writes results.json, results.md, the plots, the own chip's calibration
// and every strategy's export into opt.Out.
func Run(ctx context.Context, cfg Config, opt Options) (*Results, error) {
	r := &runner{cfg: cfg, opt: opt, log: opt.Logger, start: time.Now(), cals: map[uint64]*calib.Calibration{}, nets: map[string]*models.Network{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Data == nil {
		return nil, errors.New("study: Options.Data: no data")
	}
	if err := opt.Data.Validate(); err != nil {
		return nil, err
	}
	if opt.Data.Name != cfg.Train.Dataset {
		return nil, fmt.Errorf("study: Config.Train.Dataset is %q, the data is %q", cfg.Train.Dataset, opt.Data.Name)
	}
	tc := cfg.Train
	if tc.TrainLimit > opt.Data.Train.N || tc.TestLimit > opt.Data.Test.N {
		return nil, fmt.Errorf("study: limits %d/%d exceed the data's %d/%d samples", tc.TrainLimit, tc.TestLimit, opt.Data.Train.N, opt.Data.Test.N)
	}
	r.data = &datasets.Data{Name: opt.Data.Name, Source: opt.Data.Source, Train: opt.Data.Train.Head(tc.TrainLimit), Test: opt.Data.Test.Head(tc.TestLimit)}
	if tc.Batch > r.data.Train.N {
		return nil, fmt.Errorf("study: batch %d: more than the %d training samples", tc.Batch, r.data.Train.N)
	}
	r.spec = tc.Model.Clone()
	if tc.LogitScale != 0 {
		r.spec.LogitScale = tc.LogitScale
	}
	if _, err := r.newNet(); err != nil {
		return nil, err
	}
	r.res = &Results{Command: opt.Command, Config: cfg, Data: r.dataInfo(), UnseenChips: cfg.unseenChips(),
		Published: Published, Timing: cfg.Timing, TimingNote: timingNote,
		Machine: Machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadStart: loadAverage()}}
	own := r.ownSpec()
	r.res.OwnChip = own
	var err error
	if r.fp, err = fingerprint(cfg, r.res.Data); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, err
	}
	defer r.closeGraphs()
	if err := r.run(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: every finished stage is saved in %s; run the same command again to continue",
				ErrInterrupted, filepath.Join(opt.Out, StateDir))
		}
		return nil, err
	}
	return r.res, nil
}

func (r *runner) closeGraphs() {
	for _, gr := range r.evalGrs {
		gr.Close()
	}
	if r.trainGr != nil {
		r.trainGr.Close()
	}
}

func (r *runner) dataInfo() train.DataInfo {
	t := r.data.Train
	return train.DataInfo{Name: r.data.Name, Source: r.data.Source, Train: t.N, Test: r.data.Test.N,
		Height: t.Height, Width: t.Width, Channels: t.Channels, Classes: t.Classes}
}

func (r *runner) newNet() (*models.Network, error) {
	t := r.data.Train
	return models.Build(r.spec, models.Input{Height: t.Height, Width: t.Width, Channels: t.Channels}, t.Classes)
}

func (r *runner) ownSpec() analogmac.Spec {
	seed, cfg := r.cfg.OwnChip, r.cfg.Chip
	return analogmac.Spec{Kind: analogmac.KindChip, GainPerSend: cfg.GainPerSend, NoiseStd: cfg.TrialNoiseStd, ChipSeed: &seed, Chip: &cfg}
}

// chip builds chip seed with the study's chip configuration scaled by s.
func (r *runner) chip(seed uint64, s float64) *analogmac.Chip {
	c, err := analogmac.NewChip(seed, r.cfg.scaled(s))
	if err != nil {
		panic(err) // Validate checked the configuration
	}
	return c
}

// run performs every stage in order, each loaded when already finished.
func (r *runner) run(ctx context.Context) error {
	if err := r.floatStage(ctx); err != nil {
		return err
	}
	if err := r.calibrationStage(ctx); err != nil {
		return err
	}
	for _, s := range strategies() {
		st, err := r.strategyStage(ctx, s)
		if err != nil {
			return fmt.Errorf("study: strategy %s: %w", s.id, err)
		}
		r.res.Strategies = append(r.res.Strategies, st)
	}
	for _, s := range r.cfg.Sweep {
		p, err := r.sweepStage(ctx, s)
		if err != nil {
			return fmt.Errorf("study: sweep scale %g: %w", s, err)
		}
		r.res.Sweep = append(r.res.Sweep, p)
	}
	r.res.Findings = findings(r.res)
	r.res.Targets = targets(r.res)
	r.res.Complete = true
	r.res.WallSeconds = r.wall()
	r.res.Machine.LoadEnd = loadAverage()
	r.res.Targets = targets(r.res) // the wall time is one of them
	if err := r.writeOutputs(); err != nil {
		return err
	}
	if !r.opt.KeepState {
		if err := os.RemoveAll(filepath.Join(r.opt.Out, StateDir)); err != nil {
			return err
		}
	}
	return nil
}

// wall is the study's wall time so far, over every session that worked on
// it (the stages record their own; this adds the current session's).
func (r *runner) wall() float64 { return r.priorWall + time.Since(r.start).Seconds() }

// ---------------------------------------------------------------- float

type floatResult struct {
	Float, Ideal float64
	History      []train.EpochStats
}

func (r *runner) floatStage(ctx context.Context) error {
	net, err := r.newNet()
	if err != nil {
		return err
	}
	var fr floatResult
	w, found, err := r.load("float-net", &fr)
	if err != nil {
		return err
	}
	if found {
		if err := setWeights(net, w); err != nil {
			return err
		}
	} else {
		tc := r.cfg.Train
		net.Init(tc.Seed)
		t0 := time.Now()
		hist, err := r.train(ctx, net, "float", "float", tc.Epochs, tc.LR, nil, nil)
		if err != nil {
			return err
		}
		r.log.Info("float network trained", "epochs", tc.Epochs, "seconds", round(time.Since(t0).Seconds(), 1))
		fr.History = hist
		if fr.Float, err = net.Accuracy(ctx, nil, r.data.Test); err != nil {
			return err
		}
		if fr.Ideal, err = r.idealAccuracy(ctx, net); err != nil {
			return err
		}
		if err := r.save("float-net", weights(net), fr); err != nil {
			return err
		}
	}
	r.float = net
	r.res.Float.Float, r.res.Float.Ideal, r.res.Float.History = fr.Float, fr.Ideal, fr.History
	r.log.Info("float network", "float", round(fr.Float, 4), "ideal", round(fr.Ideal, 4))
	return nil
}

// ---------------------------------------------------------- calibration

func (r *runner) calibrationFile() string { return fmt.Sprintf("calibration-chip%d", r.cfg.OwnChip) }

func (r *runner) calibrationStage(ctx context.Context) error {
	var info CalibrationInfo
	if _, found, err := r.load("calibration", &info); err != nil {
		return err
	} else if found {
		cal, err := calib.Read(filepath.Join(r.opt.Out, info.File))
		if err != nil {
			return fmt.Errorf("study: the finished calibration stage's file: %w", err)
		}
		r.ownCal, r.res.Calibration = cal, info
		return nil
	}
	t0 := time.Now()
	cal, err := calib.Characterize(ctx, r.chip(r.cfg.OwnChip, 1), r.cfg.protocol(r.cfg.OwnChip, 1))
	if err != nil {
		return err
	}
	name := r.calibrationFile()
	info = CalibrationInfo{File: name + ".json", Plot: name + ".png", Chip: r.cfg.OwnChip,
		Counts: cal.Cost.Counts, Seconds: r.cfg.Timing.Seconds(cal.Cost.Counts), Wall: time.Since(t0).Seconds()}
	if err := cal.Write(filepath.Join(r.opt.Out, info.File)); err != nil {
		return err
	}
	if err := writePlot(filepath.Join(r.opt.Out, info.Plot), func(w io.Writer) error { return plotCalibration(w, cal, r.cfg.OwnChip) }); err != nil {
		return err
	}
	r.log.Info("own chip characterised", "chip", r.cfg.OwnChip, "vectors", cal.Cost.Counts.Vectors,
		"chip_seconds", round(info.Seconds, 3), "file", info.File)
	r.ownCal, r.res.Calibration = cal, info
	return r.save("calibration", nil, info)
}

// calibration returns chip seed's calibration (scale 1): the own chip's,
// or an unseen chip's characterised now (deterministic, kept in memory).
func (r *runner) calibration(ctx context.Context, seed uint64) (*calib.Calibration, error) {
	if seed == r.cfg.OwnChip {
		return r.ownCal, nil
	}
	if c, ok := r.cals[seed]; ok {
		return c, nil
	}
	c, err := calib.Characterize(ctx, r.chip(seed, 1), r.cfg.protocol(seed, 1))
	if err != nil {
		return nil, err
	}
	r.cals[seed] = c
	return c, nil
}

// ------------------------------------------------------------- training

// train trains net for epochs with learning rate lr*decay^e and a fresh
// Adam: in float mode when dev is nil, otherwise on dev, or on the devices
// sched gives. It is the phase train.Run runs, with the same streams of
// draws for the same phase name (on a device through train.EpochOn, which
// trains exactly as train.Epoch with a constant schedule).
func (r *runner) train(ctx context.Context, net *models.Network, label, stream string, epochs int, lr float64, dev analogmac.Device, sched train.Schedule) ([]train.EpochStats, error) {
	if epochs == 0 {
		return nil, nil
	}
	tc := r.cfg.Train
	gr, work := (*models.Graph)(nil), net
	if dev == nil {
		g, err := net.NewGraph(models.GraphOptions{Batch: tc.Batch, Train: true})
		if err != nil {
			return nil, err
		}
		defer g.Close()
		gr = g
	} else {
		var err error
		if gr, work, err = r.trainGraph(); err != nil {
			return nil, err
		}
		if err := work.CopyWeightsFrom(net); err != nil {
			return nil, err
		}
		if sched == nil {
			sched = train.ScheduleFunc(func(int, int) (analogmac.Device, error) { return dev, nil })
		}
	}
	adam := layers.NewAdam(lr)
	var hist []train.EpochStats
	for e := range epochs {
		adam.LR = lr * math.Pow(tc.LRDecay, float64(e))
		o := train.EpochOptions{Set: r.data.Train, Augment: tc.Augment, Seed: tc.Seed, Stream: stream, Epoch: e,
			Partial: &train.Partial{}, Progress: r.progress(fmt.Sprintf("%s %d/%d", label, e+1, epochs))}
		var st train.EpochStats
		var err error
		if sched != nil {
			st, err = train.EpochOn(ctx, gr, adam, o, sched)
		} else {
			st, err = train.Epoch(ctx, gr, adam, o)
		}
		r.endProgress()
		if err != nil {
			return nil, err
		}
		hist = append(hist, st)
		r.log.Info("epoch", "stage", label, "epoch", e+1, "of", epochs, "loss", round(st.Loss, 4), "train_acc", round(st.TrainAcc, 4),
			"img_per_s", math.Round(st.ImgPerSec))
	}
	if work != net {
		if err := net.CopyWeightsFrom(work); err != nil {
			return nil, err
		}
	}
	return hist, nil
}

// The study trains and evaluates every network on the graphs of one
// working network (its weights copied in and out): a closed models.Graph
// is never freed today (docs/study.md), so the study builds as few as it
// can.

// workNet returns the working network.
func (r *runner) workNet() (*models.Network, error) {
	if r.work == nil {
		n, err := r.newNet()
		if err != nil {
			return nil, err
		}
		r.work = n
	}
	return r.work, nil
}

// trainGraph returns the working network's training graph (compiled on
// the ideal device; every batch runs on the device of its schedule).
func (r *runner) trainGraph() (*models.Graph, *models.Network, error) {
	work, err := r.workNet()
	if err != nil {
		return nil, nil, err
	}
	if r.trainGr == nil {
		gr, err := work.NewGraph(models.GraphOptions{Batch: r.cfg.Train.Batch, Train: true, On: export.IdealDevice(work)})
		if err != nil {
			return nil, nil, err
		}
		r.trainGr = gr
	}
	return r.trainGr, work, nil
}

// ----------------------------------------------------------- evaluation

// evalGraphs copies net's weights into the working network and returns
// its evaluation graphs, one per parallel trial, built once and run on
// each device with RunOn.
func (r *runner) evalGraphs(net *models.Network) ([]*models.Graph, error) {
	work, err := r.workNet()
	if err != nil {
		return nil, err
	}
	if net != work {
		if err := work.CopyWeightsFrom(net); err != nil {
			return nil, err
		}
	}
	if r.evalGrs == nil {
		for range max(1, r.opt.Parallel) {
			gr, err := work.NewEvalGraph(r.data.Test.N, export.IdealDevice(work))
			if err != nil {
				return nil, err
			}
			r.evalGrs = append(r.evalGrs, gr)
		}
	}
	return r.evalGrs, nil
}

// trials evaluates net on d over n trials, trial i with the noise keys of
// train.MeasureTrials for the seed derived from (seed, stream, index): the
// same numbers MeasureTrials gives, on graphs kept per network.
func (r *runner) trials(ctx context.Context, net *models.Network, d analogmac.Device, n int, stream string, index int, label string) (train.Trials, error) {
	grs, err := r.evalGraphs(net)
	if err != nil {
		return train.Trials{}, err
	}
	defer r.endProgress()
	t, _, err := train.TrialsOn(ctx, grs, d, r.data.Test, train.TrialOptions{
		N: n, Seed: train.StreamSeed(r.cfg.Train.Seed, stream, index), Progress: r.progress(label)})
	if ctx.Err() != nil {
		return train.Trials{}, ctx.Err()
	}
	return t, err
}

// idealAccuracy is net on its ideal device: export.IdealAccuracy's number.
func (r *runner) idealAccuracy(ctx context.Context, net *models.Network) (float64, error) {
	grs, err := r.evalGraphs(net)
	if err != nil {
		return 0, err
	}
	c, err := grs[0].CorrectOn(ctx, export.IdealDevice(net), r.data.Test, nil, nil)
	return float64(c) / float64(r.data.Test.N), err
}

// onChip returns the device a network runs on for chip seed: the chip,
// metered when m is not nil, and corrected by the chip's calibration when
// calibrated (with the weight correction when weightsToo).
func (r *runner) onChip(ctx context.Context, seed uint64, calibrated, weightsToo bool, m **chiptime.Meter) (analogmac.Device, error) {
	var d analogmac.Device = r.chip(seed, 1)
	if m != nil {
		*m = chiptime.NewMeter(d)
		d = *m
	}
	if !calibrated {
		return d, nil
	}
	cal, err := r.calibration(ctx, seed)
	if err != nil {
		return nil, err
	}
	return calib.NewCorrected(d, cal, calib.CorrectOptions{Weights: weightsToo})
}

// evaluate measures a strategy's network on its own chip (metered, for the
// per-image estimate), on every unseen chip and on the ideal device.
func (r *runner) evaluate(ctx context.Context, st *Strategy, net *models.Network, calibrated, weightsToo bool) error {
	var m *chiptime.Meter
	own, err := r.onChip(ctx, r.cfg.OwnChip, calibrated, weightsToo, &m)
	if err != nil {
		return err
	}
	if st.Own, err = r.trials(ctx, net, own, r.cfg.Train.Trials, "eval/own", 0, st.ID+" own chip"); err != nil {
		return err
	}
	seed := r.cfg.OwnChip
	st.Own.Chip = &seed
	images := float64(r.cfg.Train.Trials * r.data.Test.N)
	c := m.Counts()
	c.WeightsWritten = 0 // see PerImage
	st.PerImage = PerImage{Integrations: float64(c.Integrations) / images, Events: float64(c.Events) / images,
		Seconds: r.cfg.Timing.Seconds(c) / images}
	var means []float64
	var charSeconds float64
	for j, u := range r.cfg.unseenChips() {
		d, err := r.onChip(ctx, u, calibrated, weightsToo, nil)
		if err != nil {
			return err
		}
		t, err := r.trials(ctx, net, d, r.cfg.UnseenTrials, "eval/unseen", j, fmt.Sprintf("%s chip %d", st.ID, u))
		if err != nil {
			return err
		}
		seed := u
		t.Chip = &seed
		st.Unseen = append(st.Unseen, t)
		means = append(means, t.Mean)
		if calibrated {
			cal, _ := r.calibration(ctx, u)
			charSeconds += r.cfg.Timing.Seconds(cal.Cost.Counts)
		}
	}
	st.UnseenMean, st.UnseenStd = export.MeanStd(means)
	st.UnseenMin, st.UnseenMax = slices.Min(means), slices.Max(means)
	if calibrated {
		st.CalibratedEval = true
		st.UnseenCharSeconds = charSeconds / float64(len(means))
	}
	st.Ideal, err = r.idealAccuracy(ctx, net)
	return err
}

// ------------------------------------------------------------ helpers

func weights(net *models.Network) [][]float32 {
	ps := net.Params()
	w := make([][]float32, len(ps))
	for i, p := range ps {
		w[i] = slices.Clone(p.Data())
	}
	return w
}

func setWeights(net *models.Network, w [][]float32) error {
	ps := net.Params()
	if len(ps) != len(w) {
		return fmt.Errorf("study: stage holds %d parameters, the network has %d", len(w), len(ps))
	}
	for i, p := range ps {
		if len(p.Data()) != len(w[i]) {
			return fmt.Errorf("study: stage parameter %d holds %d values, the network wants %d", i, len(w[i]), len(p.Data()))
		}
		copy(p.Data(), w[i])
	}
	return nil
}

// loadAverage is the 1-minute load average from /proc/loadavg, 0 where
// there is none.
func loadAverage() float64 {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return 0
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0
	}
	return v
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
