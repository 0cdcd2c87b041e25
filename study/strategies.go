package study

import (
	"context"
	"fmt"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/chiptime"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/train"
)

// strategy describes one row of the table: where its network comes from
// and how it runs on a chip.
type strategy struct {
	id, name, desc string
	// from is the stage whose network it starts from ("float", "va", ...).
	from string
	// train trains net (a copy of from's) and returns the chip images,
	// the chip's counts, extra measurements and the history.
	train func(ctx context.Context, r *runner, net *models.Network) (trained, error)
	// calibrated runs the network through digital calibration on every
	// chip; weightsToo also corrects the weights.
	calibrated, weightsToo bool
	// usesOwnCal: the strategy needs the own chip's characterisation.
	usesOwnCal bool
}

type trained struct {
	chipImages int64
	counts     chiptime.Counts
	history    []train.EpochStats
	extra      map[string]float64
}

// strategies lists the table's rows in order.
func strategies() []strategy {
	return []strategy{
		{id: "float", name: "float, direct transfer", from: "float",
			desc: "the float network moved to the chip without retraining"},
		{id: "calibrated-columns", name: "float + digital calibration (columns)", from: "float",
			calibrated: true, usesOwnCal: true,
			desc: "the float network; every chip characterised, each column's output corrected on the host (gain, offset, saturation)"},
		{id: "calibrated", name: "float + digital calibration (columns + weights)", from: "float",
			calibrated: true, weightsToo: true, usesOwnCal: true,
			desc: "as above, and every weight divided by its measured synapse factor before programming"},
		{id: "hil", name: "in the loop, own chip (today's)", from: "float", train: trainHIL,
			desc: "retrained with the own chip in the loop, as cmd/train does"},
		{id: "twin-hil", name: "twin, then in the loop", from: "float", train: trainTwin, usesOwnCal: true,
			desc: "trained on the own chip's digital twin (built from its calibration), then a few epochs with the own chip in the loop"},
		{id: "va", name: "variation-aware (no chip)", from: "float", train: trainVA,
			desc: "trained on a fresh random chip (drawn from the chip configuration) every batch; no chip"},
		{id: "va-hil", name: "variation-aware, then in the loop", from: "va", train: trainVAHIL,
			desc: "the variation-aware network, then a few epochs with the own chip in the loop"},
		{id: "multi", name: "multi-chip in the loop", from: "float", train: trainMulti,
			desc: "retrained with several chips in the loop, a different one every batch in turn"},
	}
}

// stageResult is what a strategy's stage saves.
type stageResult struct {
	Strategy Strategy
}

func (r *runner) strategyStage(ctx context.Context, s strategy) (Strategy, error) {
	var sr stageResult
	w, found, err := r.load(s.id, &sr)
	if err != nil {
		return Strategy{}, err
	}
	net, err := r.newNet()
	if err != nil {
		return Strategy{}, err
	}
	if found {
		if err := setWeights(net, w); err != nil {
			return Strategy{}, err
		}
		r.nets[s.id] = net
		return sr.Strategy, nil
	}
	parent := r.float
	if s.from != "float" {
		var ok bool
		if parent, ok = r.nets[s.from]; !ok {
			return Strategy{}, fmt.Errorf("stage %s needs stage %s first", s.id, s.from)
		}
	}
	if err := net.CopyWeightsFrom(parent); err != nil {
		return Strategy{}, err
	}
	st := Strategy{ID: s.id, Name: s.name, Description: s.desc}
	t0 := time.Now()
	if s.train != nil {
		tr, err := s.train(ctx, r, net)
		if err != nil {
			return Strategy{}, err
		}
		st.ChipImages, st.Counts, st.History, st.Extra = tr.chipImages, tr.counts, tr.history, tr.extra
	}
	if s.from != "float" {
		// A strategy built on another carries its chip cost.
		for _, p := range r.res.Strategies {
			if p.ID == s.from {
				st.ChipImages += p.ChipImages
				st.Counts = st.Counts.Add(p.Counts)
				st.Characterized = p.Characterized
			}
		}
	}
	st.TrainSeconds = time.Since(t0).Seconds()
	if s.usesOwnCal {
		st.Characterized = 1
		st.Counts = st.Counts.Add(r.ownCal.Cost.Counts)
	}
	st.Seconds = r.cfg.Timing.Seconds(st.Counts)
	if err := r.evaluate(ctx, &st, net, s.calibrated, s.weightsToo); err != nil {
		return Strategy{}, err
	}
	if st.Export, err = r.export(s, &st, net); err != nil {
		return Strategy{}, err
	}
	r.log.Info("strategy done", "strategy", s.id, "own", round(st.Own.Mean, 4), "unseen_mean", round(st.UnseenMean, 4),
		"unseen_std", round(st.UnseenStd, 4), "chip_images", st.ChipImages, "chip_seconds", round(st.Seconds, 1))
	r.nets[s.id] = net
	if err := r.save(s.id, weights(net), stageResult{Strategy: st}); err != nil {
		return Strategy{}, err
	}
	return st, nil
}

// images is the number of training images of epochs (full batches only).
func (r *runner) images(epochs int) int64 {
	b := r.cfg.Train.Batch
	return int64(epochs) * int64(r.data.Train.N/b*b)
}

func trainHIL(ctx context.Context, r *runner, net *models.Network) (trained, error) {
	tc := r.cfg.Train
	m := chiptime.NewMeter(r.chip(r.cfg.OwnChip, 1))
	h, err := r.train(ctx, net, "hil", "hil", tc.HILEpochs, tc.HILLR, m, nil)
	return trained{chipImages: r.images(tc.HILEpochs), counts: m.Counts(), history: h}, err
}

func trainTwin(ctx context.Context, r *runner, net *models.Network) (trained, error) {
	tc := r.cfg.Train
	twin, err := calib.NewTwin(r.ownCal)
	if err != nil {
		return trained{}, err
	}
	h, err := r.train(ctx, net, "twin", "twin", r.cfg.TwinEpochs, tc.HILLR, twin, nil)
	if err != nil {
		return trained{}, err
	}
	extra := map[string]float64{}
	// What the twin alone gave, on the own chip and on the twin.
	own := r.chip(r.cfg.OwnChip, 1)
	t, err := r.trials(ctx, net, own, r.cfg.UnseenTrials, "eval/twin-only", 0, "twin only, own chip")
	if err != nil {
		return trained{}, err
	}
	extra["twin_only_own_chip"] = t.Mean
	if t, err = r.trials(ctx, net, twin, r.cfg.UnseenTrials, "eval/twin-only", 1, "twin only, on the twin"); err != nil {
		return trained{}, err
	}
	extra["twin_only_on_twin"] = t.Mean
	m := chiptime.NewMeter(own)
	h2, err := r.train(ctx, net, "twin-hil", "twin-hil", r.cfg.TwinChipEpochs, tc.HILLR, m, nil)
	return trained{chipImages: r.images(r.cfg.TwinChipEpochs), counts: m.Counts(), history: append(h, h2...), extra: extra}, err
}

// vaSeed is the chip of batch k of epoch e of variation-aware training:
// drawn from the study's seed, with the top bit set so that it is none of
// the chips the study evaluates on.
func (r *runner) vaSeed(e, k int) uint64 {
	return train.StreamSeed(r.cfg.Train.Seed, "va/chip", e<<24|k) | vaSeedMark
}

func trainVA(ctx context.Context, r *runner, net *models.Network) (trained, error) {
	tc := r.cfg.Train
	sched := train.ScheduleFunc(func(e, k int) (analogmac.Device, error) {
		return analogmac.NewChip(r.vaSeed(e, k), r.cfg.Chip)
	})
	first, err := sched(0, 0)
	if err != nil {
		return trained{}, err
	}
	h, err := r.train(ctx, net, "variation-aware", "va", r.cfg.VAEpochs, tc.HILLR, first, sched)
	return trained{history: h}, err
}

func trainVAHIL(ctx context.Context, r *runner, net *models.Network) (trained, error) {
	tc := r.cfg.Train
	m := chiptime.NewMeter(r.chip(r.cfg.OwnChip, 1))
	h, err := r.train(ctx, net, "va-hil", "va-hil", r.cfg.VAChipEpochs, tc.HILLR, m, nil)
	return trained{chipImages: r.images(r.cfg.VAChipEpochs), counts: m.Counts(), history: h}, err
}

func trainMulti(ctx context.Context, r *runner, net *models.Network) (trained, error) {
	tc := r.cfg.Train
	var meters []*chiptime.Meter
	for _, s := range r.cfg.multiChips() {
		meters = append(meters, chiptime.NewMeter(r.chip(s, 1)))
	}
	sched := train.ScheduleFunc(func(e, k int) (analogmac.Device, error) { return meters[k%len(meters)], nil })
	h, err := r.train(ctx, net, "multi-chip", "multi", r.cfg.MultiEpochs, tc.HILLR, meters[0], sched)
	var c chiptime.Counts
	for _, m := range meters {
		c = c.Add(m.Counts())
	}
	return trained{chipImages: r.images(r.cfg.MultiEpochs), counts: c, history: h}, err
}

// ---------------------------------------------------------------- sweep

type sweepResult struct {
	Point SweepPoint
}

func sweepStageName(s float64) string { return fmt.Sprintf("sweep-%g", s) }

func (r *runner) sweepStage(ctx context.Context, s float64) (SweepPoint, error) {
	var sr sweepResult
	name := sweepStageName(s)
	if _, found, err := r.load(name, &sr); err != nil {
		return SweepPoint{}, err
	} else if found {
		return sr.Point, nil
	}
	p := SweepPoint{Scale: s, Chip: r.cfg.scaled(s)}
	chip := r.chip(r.cfg.OwnChip, s)
	n := r.cfg.SweepTrials
	var err error
	if p.Direct, err = r.trials(ctx, r.float, chip, n, "sweep/direct", 0, fmt.Sprintf("sweep x%g direct", s)); err != nil {
		return p, err
	}
	cal, err := calib.Characterize(ctx, chip, r.cfg.protocol(r.cfg.OwnChip, s))
	if err != nil {
		return p, err
	}
	corr, err := calib.NewCorrected(chip, cal, calib.CorrectOptions{Weights: true})
	if err != nil {
		return p, err
	}
	if p.Calibrated, err = r.trials(ctx, r.float, corr, n, "sweep/calibrated", 0, fmt.Sprintf("sweep x%g calibrated", s)); err != nil {
		return p, err
	}
	// In the loop with the same draws as strategy "hil": at scale 1 with as
	// many epochs it is that very network.
	net := r.nets["hil"]
	if s != 1 || r.cfg.SweepHILEpochs != r.cfg.Train.HILEpochs || net == nil {
		if net, err = r.float.Clone(); err != nil {
			return p, err
		}
		if _, err := r.train(ctx, net, fmt.Sprintf("sweep x%g hil", s), "hil", r.cfg.SweepHILEpochs, r.cfg.Train.HILLR, chip, nil); err != nil {
			return p, err
		}
	}
	if p.InLoop, err = r.trials(ctx, net, chip, n, "sweep/hil", 0, fmt.Sprintf("sweep x%g in the loop", s)); err != nil {
		return p, err
	}
	r.log.Info("sweep point", "scale", s, "direct", round(p.Direct.Mean, 4), "calibrated", round(p.Calibrated.Mean, 4), "in_the_loop", round(p.InLoop.Mean, 4))
	return p, r.save(name, nil, sweepResult{Point: p})
}
