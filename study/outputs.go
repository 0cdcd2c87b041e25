package study

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/export"
	"github.com/analogloop/analogloop/internal/atomicfile"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/plots"
	"github.com/analogloop/analogloop/train"
)

// Output files.
const (
	ResultsJSON = "results.json"
	ResultsMD   = "results.md"
	BarsPNG     = "strategies.png"
	SweepPNG    = "sweep.png"
)

const timingNote = "chip time only (docs/chip-timing.md): input events, the integrations' settling and ADC reads, and weight writes; " +
	"not the host, the link to the chip, or queues. Training counts every forward pass on a physical chip and the characterisations it needs; " +
	"simulated random chips and the twin cost no chip time."

// progress returns a live progress line for a loop, or nil without a
// progress writer.
func (r *runner) progress(label string) train.Progress {
	return train.ProgressLine(r.opt.Progress, label)
}

func (r *runner) endProgress() { train.EndProgressLine(r.opt.Progress) }

// export writes the strategy's network as export-<id>.{json,npz}, with its
// own-chip accuracy and the device it was measured on: for a calibrated
// strategy the corrected chip, whose Spec names the calibration file by
// its digest, so that `go run ./cmd/train -eval` can tell whether it is
// given the same device (-calibration FILE) or measures direct transfer.
func (r *runner) export(s strategy, st *Strategy, net *models.Network) (string, error) {
	name := "export-" + s.id
	note := fmt.Sprintf("study strategy %q (%s): %s; accuracy on chip %d", s.id, s.name, s.desc, r.cfg.OwnChip)
	spec := r.ownSpec()
	if s.calibrated {
		flags := "-calibration FILE"
		if s.weightsToo {
			flags += " -calibrate-weights"
		}
		note += fmt.Sprintf(" through digital calibration from %s, the file beside this export (cmd/train -eval measures the same device with %s)", r.res.Calibration.File, flags)
		c, err := calib.NewCorrected(r.chip(r.cfg.OwnChip, 1), r.ownCal, calib.CorrectOptions{Weights: s.weightsToo})
		if err != nil {
			return "", err
		}
		spec = analogmac.Describe(c)
	}
	_, err := export.Export(r.opt.Out, name, net, export.Info{
		Dataset: r.cfg.Train.Dataset, Device: spec, Accuracy: st.Own.AccuracyStats,
		IdealAccuracy: st.Ideal, IdealSamples: r.data.Test.N, Note: note,
	}, r.data.Test)
	return name + ".json", err
}

// findings interpolates where direct transfer loses what the 2020 chip
// lost.
func findings(res *Results) SweepFindings {
	f := SweepFindings{PublishedDrop: Published.Software - Published.ChipDirect}
	ref := 100 * res.Float.Float
	pts := res.Sweep
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		da, db := ref-100*a.Direct.Mean, ref-100*b.Direct.Mean
		if b.Scale <= a.Scale || !(da < f.PublishedDrop && db >= f.PublishedDrop) {
			continue
		}
		t := (f.PublishedDrop - da) / (db - da)
		f.Scale = a.Scale + t*(b.Scale-a.Scale)
		f.Reached = true
		f.InLoop = a.InLoop.Mean + t*(b.InLoop.Mean-a.InLoop.Mean)
		f.Calibrated = a.Calibrated.Mean + t*(b.Calibrated.Mean-a.Calibrated.Mean)
		break
	}
	if f.Reached {
		f.Text = fmt.Sprintf("Direct transfer loses the published %.2f points (%.2f %% → %.2f %%) at about %.2f x the default fixed-pattern magnitudes "+
			"(interpolated between sweep points); there, in the loop reaches about %.2f %% and digital calibration about %.2f %% (published in the loop: %.1f %%).",
			f.PublishedDrop, Published.Software, Published.ChipDirect, f.Scale, 100*f.InLoop, 100*f.Calibrated, Published.ChipInLoop)
	} else {
		f.Text = fmt.Sprintf("No scale of the sweep loses the published %.2f points by direct transfer.", f.PublishedDrop)
	}
	return f
}

// targets evaluates the four targets.
func targets(res *Results) []Target {
	get := func(id string) *Strategy {
		for i := range res.Strategies {
			if res.Strategies[i].ID == id {
				return &res.Strategies[i]
			}
		}
		return nil
	}
	var ts []Target
	hil, twin, direct, cal := get("hil"), get("twin-hil"), get("float"), get("calibrated")
	if hil == nil || twin == nil || direct == nil || cal == nil {
		return nil
	}
	// 1: a strategy with >= 98.0 % mean over the unseen chips, losing at
	// most 0.3 points on its own chip against in the loop.
	t1 := Target{Name: "robust: ≥ 98.0 % mean over the unseen chips, own chip within 0.3 points of in the loop",
		Want: fmt.Sprintf("unseen mean ≥ 98.00 %% and own chip ≥ %.2f %% (in the loop %.2f %% − 0.3)", 100*hil.Own.Mean-0.3, 100*hil.Own.Mean)}
	var best *Strategy
	for i := range res.Strategies {
		s := &res.Strategies[i]
		ok := s.UnseenMean >= 0.98 && 100*s.Own.Mean >= 100*hil.Own.Mean-0.3
		if ok && (best == nil || s.UnseenMean > best.UnseenMean) {
			best = s
		}
	}
	if best != nil {
		t1.Met = true
		t1.Got = fmt.Sprintf("%s: unseen %.2f ± %.2f %%, own chip %.2f %%", best.Name, 100*best.UnseenMean, 100*best.UnseenStd, 100*best.Own.Mean)
		if best.CalibratedEval {
			t1.Notes = "with digital calibration: every chip, unseen ones included, is characterised first (no training on it)"
		}
	}
	var raw *Strategy
	for i := range res.Strategies {
		s := &res.Strategies[i]
		if !s.CalibratedEval && (raw == nil || s.UnseenMean > raw.UnseenMean) {
			raw = s
		}
	}
	if raw != nil {
		txt := fmt.Sprintf("best without calibration: %s, unseen %.2f ± %.2f %%, own chip %.2f %%", raw.Name, 100*raw.UnseenMean, 100*raw.UnseenStd, 100*raw.Own.Mean)
		if t1.Got == "" {
			t1.Got = txt
		} else {
			t1.Notes += "; " + txt
		}
	}
	ts = append(ts, t1)
	// 2: twin-then-chip within 0.2 points of in the loop with at most 25 %
	// of its chip images.
	share := float64(twin.ChipImages) / math.Max(1, float64(hil.ChipImages))
	ts = append(ts, Target{Name: "twin, then in the loop: within 0.2 points of in the loop, ≤ 25 % of its chip images",
		Want: fmt.Sprintf("own chip ≥ %.2f %%, chip images ≤ %d", 100*hil.Own.Mean-0.2, hil.ChipImages/4),
		Got:  fmt.Sprintf("%.2f %% with %d chip images (%.1f %% of %d); est. chip time %.0f s vs %.0f s", 100*twin.Own.Mean, twin.ChipImages, 100*share, hil.ChipImages, twin.Seconds, hil.Seconds),
		Met:  100*twin.Own.Mean >= 100*hil.Own.Mean-0.2 && share <= 0.25})
	// 3: digital calibration recovers at least half of the drop.
	drop := res.Float.Float - direct.Own.Mean
	rec := (cal.Own.Mean - direct.Own.Mean) / drop
	ts = append(ts, Target{Name: "digital calibration recovers ≥ half of the direct-transfer drop on the own chip",
		Want: fmt.Sprintf("≥ %.2f %% (float %.2f %%, direct %.2f %%)", 100*(direct.Own.Mean+drop/2), 100*res.Float.Float, 100*direct.Own.Mean),
		Got:  fmt.Sprintf("%.2f %%: %.0f %% of the %.2f-point drop recovered", 100*cal.Own.Mean, 100*rec, 100*drop),
		Met:  rec >= 0.5})
	ts = append(ts, Target{Name: "the whole study in at most 20 minutes on the 2-core machine",
		Want: "≤ 1200 s", Got: fmt.Sprintf("%.0f s", res.WallSeconds), Met: res.Complete && res.WallSeconds <= 1200,
		Notes: resumedNote(res)})
	return ts
}

func resumedNote(res *Results) string {
	if res.Resumed {
		return "continued after an interruption: the sessions' time up to their last finished stage, plus this session's"
	}
	return ""
}

// writeOutputs writes the JSON, the Markdown and the plots.
func (r *runner) writeOutputs() error {
	res := r.res
	res.Files = []string{ResultsJSON, ResultsMD, BarsPNG, SweepPNG, res.Calibration.File, res.Calibration.Plot}
	for _, s := range res.Strategies {
		res.Files = append(res.Files, s.Export, strings.TrimSuffix(s.Export, ".json")+".npz")
	}
	if err := writePlot(filepath.Join(r.opt.Out, BarsPNG), func(w io.Writer) error { return plotBars(w, res) }); err != nil {
		return err
	}
	if err := writePlot(filepath.Join(r.opt.Out, SweepPNG), func(w io.Writer) error { return plotSweep(w, res) }); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.opt.Out, ResultsJSON), append(b, '\n')); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.opt.Out, ResultsMD), []byte(Markdown(res)))
}

func writePlot(path string, draw func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := draw(&buf); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes())
}

func pct(v float64) string { return fmt.Sprintf("%.2f", 100*v) }

// Table returns the Markdown table of the strategies.
func Table(res *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| strategy | own chip (chip %d, %d trials) | unseen chips (%d, mean ± std over chips) | chip images in training | est. chip time | est. chip time per image |\n",
		res.Config.OwnChip, res.Config.Train.Trials, res.Config.Unseen)
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, s := range res.Strategies {
		imgs := fmt.Sprintf("%d", s.ChipImages)
		if s.Characterized > 0 {
			imgs += fmt.Sprintf(" + characterisation (%d vectors)", res.Calibration.Counts.Vectors)
		}
		tm := fmt.Sprintf("%.1f s", s.Seconds)
		if s.CalibratedEval {
			tm += fmt.Sprintf(" (+ %.2f s per further chip)", s.UnseenCharSeconds)
		}
		fmt.Fprintf(&b, "| %s | %s ± %s %% | %s ± %s %% (%s–%s) | %s | %s | %.2f ms |\n", s.Name,
			pct(s.Own.Mean), pct(s.Own.Std), pct(s.UnseenMean), pct(s.UnseenStd), pct(s.UnseenMin), pct(s.UnseenMax),
			imgs, tm, 1e3*s.PerImage.Seconds)
	}
	return b.String()
}

// Markdown renders results.md.
func Markdown(res *Results) string {
	var b strings.Builder
	c := res.Config
	fmt.Fprintf(&b, "# Beyond one chip: calibration, digital twin, chip-robust training\n\n")
	fmt.Fprintf(&b, "Produced by `%s` (wall time %.0f s%s; %d CPUs, load average %.1f at the start and %.1f at the end).\n\n", res.Command, res.WallSeconds,
		map[bool]string{true: ", continued after an interruption", false: ""}[res.Resumed], res.Machine.NumCPU, res.Machine.LoadStart, res.Machine.LoadEnd)
	fmt.Fprintf(&b, "Model `%s`, %s test set (%d images), seed %d. Every strategy starts from the same float network (%s %% in float, %s %% on the ideal integer device). "+
		"Own chip: chip %d; unseen chips: %d..%d, trained on by no strategy. Own-chip accuracy over %d trials of fresh trial noise (mean ± std); "+
		"unseen: each chip over %d trials, then mean ± std over the chips (range in brackets).\n\n",
		c.Train.Model.Name, res.Data.Name, res.Data.Test, c.Train.Seed, pct(res.Float.Float), pct(res.Float.Ideal),
		c.OwnChip, c.UnseenFirst, c.UnseenFirst+uint64(c.Unseen)-1, c.Train.Trials, c.UnseenTrials)
	b.WriteString(Table(res))
	b.WriteString("\n")
	for _, s := range res.Strategies {
		fmt.Fprintf(&b, "- **%s**: %s. Ideal device: %s %%. Export: `%s`.", s.Name, s.Description, pct(s.Ideal), s.Export)
		if v, ok := s.Extra["twin_only_own_chip"]; ok {
			fmt.Fprintf(&b, " After the twin alone: %s %% on the own chip (%s %% on the twin).", pct(v), pct(s.Extra["twin_only_on_twin"]))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nEpochs: float %d; in the loop %d; twin %d + %d in the loop; variation-aware %d (+ %d in the loop); multi-chip %d on chips %d..%d.\n",
		c.Train.Epochs, c.Train.HILEpochs, c.TwinEpochs, c.TwinChipEpochs, c.VAEpochs, c.VAChipEpochs, c.MultiEpochs, c.OwnChip, c.OwnChip+uint64(c.MultiChips)-1)
	fmt.Fprintf(&b, "\nEst. chip time: %s Model: %s per event (%d cycles at %.0f MHz), %.0f µs per integration, %.0f ns per weight written.\n",
		res.TimingNote, fmt.Sprintf("%.0f ns", 1e9*res.Timing.EventTime()), res.Timing.WaitBetweenEvents, res.Timing.ClockHz/1e6,
		1e6*res.Timing.IntegrationTime(), 1e9*res.Timing.WeightWrite)
	fmt.Fprintf(&b, "\nCharacterisation of chip %d: %d programs, %d runs, %d vectors (%d integrations, %d events), est. %.2f s of chip time; file `%s`, plot `%s`.\n",
		res.Calibration.Chip, res.Calibration.Counts.Programs, res.Calibration.Counts.Runs, res.Calibration.Counts.Vectors,
		res.Calibration.Counts.Integrations, res.Calibration.Counts.Events, res.Calibration.Seconds, res.Calibration.File, res.Calibration.Plot)
	b.WriteString("\n![accuracy per strategy](" + BarsPNG + ")\n\n## Deviation sweep\n\n")
	fmt.Fprintf(&b, "Chip %d with its column gain, column offset and synapse mismatch scaled together; %d trials each; in the loop: %d epochs from the float network.\n\n",
		c.OwnChip, c.SweepTrials, c.SweepHILEpochs)
	b.WriteString("| scale | direct transfer | digital calibration | in the loop |\n|---|---|---|---|\n")
	for _, p := range res.Sweep {
		fmt.Fprintf(&b, "| %g x | %s ± %s %% | %s ± %s %% | %s ± %s %% |\n", p.Scale, pct(p.Direct.Mean), pct(p.Direct.Std),
			pct(p.Calibrated.Mean), pct(p.Calibrated.Std), pct(p.InLoop.Mean), pct(p.InLoop.Std))
	}
	fmt.Fprintf(&b, "\n%s\n\n![deviation sweep](%s)\n\n## Targets\n\n| target | wanted | got | met |\n|---|---|---|---|\n", res.Findings.Text, SweepPNG)
	for _, t := range res.Targets {
		got := t.Got
		if t.Notes != "" {
			got += " (" + t.Notes + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, got, map[bool]string{true: "yes", false: "**no**"}[t.Met])
	}
	b.WriteString("\nAll numbers, the configuration and per-epoch histories: [`" + ResultsJSON + "`](" + ResultsJSON + ").\n")
	return b.String()
}

// plotBars draws the table as bars.
func plotBars(w io.Writer, res *Results) error {
	var bars []plots.StrategyBar
	for _, s := range res.Strategies {
		bars = append(bars, plots.StrategyBar{Name: s.Name, Own: 100 * s.Own.Mean, OwnStd: 100 * s.Own.Std,
			Unseen: 100 * s.UnseenMean, UnseenStd: 100 * s.UnseenStd})
	}
	return plots.StudyBars(w, fmt.Sprintf("Accuracy on chip %d and on %d unseen chips (%s)", res.Config.OwnChip, res.Config.Unseen, res.Data.Name), bars,
		[]plots.RefLine{{Label: "float network", Value: 100 * res.Float.Float}, {Label: "98.0 %", Value: 98}})
}

// plotSweep draws the deviation sweep with the published figures.
func plotSweep(w io.Writer, res *Results) error {
	series := []plots.SweepSeries{{Name: "direct transfer"}, {Name: "digital calibration"}, {Name: "in the loop"}}
	for _, p := range res.Sweep {
		for i, t := range []train.Trials{p.Direct, p.Calibrated, p.InLoop} {
			series[i].X = append(series[i].X, p.Scale)
			series[i].Y = append(series[i].Y, 100*t.Mean)
			series[i].Err = append(series[i].Err, 100*t.Std)
		}
	}
	pub := plots.PublishedMarks{Software: Published.Software, Direct: Published.ChipDirect, InLoop: Published.ChipInLoop,
		Float: 100 * res.Float.Float}
	if res.Findings.Reached {
		pub.Scale = res.Findings.Scale
	}
	return plots.Sweep(w, fmt.Sprintf("Deviation sweep, chip %d (%s)", res.Config.OwnChip, res.Data.Name), series, pub)
}

// plotCalibration draws a calibration's per-column parameters.
func plotCalibration(w io.Writer, cal *calib.Calibration, chip uint64) error {
	return plots.Calibration(w, fmt.Sprintf("Chip %d", chip), cal)
}
