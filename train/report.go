package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/internal/atomicfile"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/plots"
)

// progress returns a live one-line progress display for a loop, or nil
// when the run has no progress writer (not a terminal).
func (r *runner) progress(label string) Progress { return ProgressLine(r.opt.Progress, label) }

func (r *runner) endProgress() { EndProgressLine(r.opt.Progress) }

// ProgressLine returns a Progress that redraws one line on w (a terminal):
// label, a bar, batches done, images/s and the running loss, at most four
// times a second and at the end; nil when w is nil.
func ProgressLine(w io.Writer, label string) Progress {
	if w == nil {
		return nil
	}
	var last time.Time
	return func(done, total int, loss, ips float64) {
		if done != total && time.Since(last) < 250*time.Millisecond {
			return
		}
		last = time.Now()
		const width = 24
		n := done * width / max(total, 1)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		line := fmt.Sprintf("\r%-34s [%s] %d/%d  %6.0f img/s", label, bar, done, total, ips)
		if loss > 0 {
			line += fmt.Sprintf("  loss %.4f", loss)
		}
		fmt.Fprint(w, line+"\033[K")
	}
}

// EndProgressLine clears the line ProgressLine drew; nothing when w is nil.
func EndProgressLine(w io.Writer) {
	if w != nil {
		fmt.Fprint(w, "\r\033[K")
	}
}

// writeOutputs writes results.json, results.md and curves.png.
func (r *runner) writeOutputs() error {
	res := &r.ck.Results
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.opt.Out, "results.json"), append(js, '\n')); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.opt.Out, "results.md"), []byte(Table(res))); err != nil {
		return err
	}
	png, err := Curves(res)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.opt.Out, "curves.png"), png)
}

func pct(v float64) string { return fmt.Sprintf("%.2f %%", 100*v) }

func pctTrials(t Trials) string {
	return fmt.Sprintf("%.2f ± %.2f %% (%d trials)", 100*t.Mean, 100*t.Std, len(t.Trials))
}

func epochs(n int) string {
	if n == 1 {
		return "1 epoch"
	}
	return fmt.Sprintf("%d epochs", n)
}

// published reports whether a run is the published experiment, whose
// figures (Weis et al. 2020) the table may show beside its own: MNIST, the
// BrainScaleS-2 network on a chip, all the data and the full training.
func published(res *Results) bool {
	c := res.Config
	return c.Dataset == "mnist" && res.Model.Name == models.BSS2MNISTName && res.Device.Kind == analogmac.KindChip &&
		c.TrainLimit == 0 && c.TestLimit == 0 && c.Epochs >= DefaultConfig().Epochs && c.HILEpochs >= 1
}

// Table renders the comparison as Markdown, in the spirit of the published
// table (Weis et al. 2020), with the command that produced it.
func Table(res *Results) string {
	var b strings.Builder
	c := res.Config
	a := res.Accuracy
	fmt.Fprintf(&b, "# %s on a simulated analog chip: results\n\n", c.Dataset)
	wall := fmt.Sprintf("%.0f", res.WallSeconds)
	if res.WallSeconds < 10 {
		wall = fmt.Sprintf("%.1f", res.WallSeconds)
	}
	fmt.Fprintf(&b, "Produced by `%s` (wall time %s s).\n\n", res.Command, wall)
	dev := res.Device.String()
	where := "device `" + dev + "`"
	if res.UnseenDevice != nil {
		where += fmt.Sprintf(" (unseen: %s)", res.UnseenDevice)
	}
	fmt.Fprintf(&b, "Model `%s`, sends %v, seed %d, %s; accuracy on the %s test set (%d samples), device rows over %d trials of fresh trial-to-trial noise (mean ± std).\n\n",
		res.Model.Name, sendsOf(res.Model), c.Seed, where, c.Dataset, res.Data.Test, c.Trials)
	pubOK := published(res)
	pub := func(v string) string {
		if pubOK {
			return " " + v + " |"
		}
		return ""
	}
	b.WriteString("| network | evaluated on | accuracy |" + pub("published (BrainScaleS-2)") + "\n|---|---|---|" + pub("---") + "\n")
	fmt.Fprintf(&b, "| trained in float (%s) | float, host | %s |%s\n", epochs(c.Epochs), pct(a.Float), pub("98.42 %"))
	fmt.Fprintf(&b, "| trained in float | ideal integer device | %s |%s\n", pct(a.Ideal), pub(""))
	fmt.Fprintf(&b, "| trained in float, moved without retraining | %s | %s |%s\n", dev, pctTrials(a.ChipDirect), pub("91.54 %"))
	fmt.Fprintf(&b, "| retrained with %s in the loop (%s) | %s | %s |%s\n", dev, epochs(c.HILEpochs), dev, pctTrials(a.ChipHIL), pub("98.0 %"))
	if o := a.ChipHILOtherChip; o != nil && res.UnseenDevice != nil {
		fmt.Fprintf(&b, "| retrained with %s in the loop | unseen %s | %s |%s\n", dev, res.UnseenDevice, pctTrials(*o), pub(""))
	}
	fmt.Fprintf(&b, "| retrained with %s in the loop | ideal integer device | %s |%s\n", dev, pct(a.IdealHIL), pub(""))
	t := res.Throughput
	fmt.Fprintf(&b, "\nThroughput: float training %.0f img/s, in-the-loop training %.0f img/s, evaluation on the device %.0f img/s.\n", t.TrainFloat, t.TrainHIL, t.EvalChip)
	if a.ChipHILOtherChip == nil {
		b.WriteString("\nNo unseen device was given: the retrained network was not evaluated on a chip it never saw.\n")
	}
	return b.String()
}

func sendsOf(s models.Spec) []int {
	var out []int
	for _, l := range s.Layers {
		if l.Type == models.Dense || l.Type == models.Conv2d {
			out = append(out, l.Sends)
		}
	}
	return out
}

// Curves plots loss and test accuracy per epoch for float training and
// in-the-loop retraining (epochs continue across the two phases), with the
// direct-transfer accuracy marked.
func Curves(res *Results) ([]byte, error) {
	dev := res.Device.String()
	c := plots.Curves{Phases: []plots.Phase{
		{LossLabel: "float training", AccLabel: "float (host)"},
		{LossLabel: dev + " in the loop", AccLabel: "on " + dev + ", in the loop"},
	}}
	for _, st := range res.History.Float {
		c.Phases[0].Loss = append(c.Phases[0].Loss, st.Loss)
		c.Phases[0].Accuracy = append(c.Phases[0].Accuracy, st.TestAcc)
	}
	for _, st := range res.History.HIL {
		c.Phases[1].Loss = append(c.Phases[1].Loss, st.Loss)
		c.Phases[1].Accuracy = append(c.Phases[1].Accuracy, st.TestAcc)
	}
	if d := res.Accuracy.ChipDirect; len(d.Trials) > 0 {
		c.Reference, c.ReferenceLabel = d.Mean, "float net moved to "+dev
	}
	var buf bytes.Buffer
	if err := plots.TrainingCurves(&buf, c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
