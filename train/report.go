package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// progress returns a live one-line progress display for a loop, or nil
// when the run has no progress writer (not a terminal).
func (r *runner) progress(label string) Progress {
	w := r.opt.Progress
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
		line := fmt.Sprintf("\r%-28s [%s] %d/%d  %6.0f img/s", label, bar, done, total, ips)
		if loss > 0 {
			line += fmt.Sprintf("  loss %.4f", loss)
		}
		fmt.Fprint(w, line+"\033[K")
	}
}

func (r *runner) endProgress() {
	if r.opt.Progress != nil {
		fmt.Fprint(r.opt.Progress, "\r\033[K")
	}
}

// writeOutputs writes results.json, results.md and curves.png.
func (r *runner) writeOutputs() error {
	res := &r.ck.Results
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(r.opt.Out, "results.json"), append(js, '\n')); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(r.opt.Out, "results.md"), []byte(Table(res))); err != nil {
		return err
	}
	png, err := Curves(res)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(r.opt.Out, "curves.png"), png)
}

func pct(v float64) string { return fmt.Sprintf("%.2f %%", 100*v) }

func pctTrials(t Trials) string {
	return fmt.Sprintf("%.2f ± %.2f %% (%d trials)", 100*t.Mean, 100*t.Std, len(t.Trials))
}

// Table renders the comparison as Markdown, in the spirit of the published
// table (Weis et al. 2020), with the command that produced it.
func Table(res *Results) string {
	var b strings.Builder
	c := res.Config
	a := res.Accuracy
	fmt.Fprintf(&b, "# %s on a simulated analog chip: results\n\n", c.Dataset)
	fmt.Fprintf(&b, "Produced by `%s` (wall time %.0f s).\n\n", res.Command, res.WallSeconds)
	where := fmt.Sprintf("device `%s`", c.Device)
	if c.Device == "chip" {
		where = fmt.Sprintf("chip %d (unseen chip %d)", c.Chip, c.OtherChip)
	}
	fmt.Fprintf(&b, "Model `%s`, sends %v, seed %d, %s; accuracy on the %s test set, device rows over %d trials of fresh trial-to-trial noise (mean ± std).\n\n",
		c.Model, res.Model.Sends, c.Seed, where, c.Dataset, c.Trials)
	// The published column belongs to the published experiment only.
	published := c.Dataset == "mnist" && c.Model == "bss2-mnist" && c.Device == "chip"
	pub := func(v string) string {
		if published {
			return " " + v + " |"
		}
		return ""
	}
	dev, other := c.Device, c.Device+" (other noise)"
	if c.Device == "chip" {
		dev, other = fmt.Sprintf("chip %d", c.Chip), fmt.Sprintf("unseen chip %d", c.OtherChip)
	}
	b.WriteString("| network | evaluated on | accuracy |" + pub("published (BrainScaleS-2)") + "\n|---|---|---|" + pub("---") + "\n")
	fmt.Fprintf(&b, "| trained in float (%d epochs) | float, host | %s |%s\n", c.Epochs, pct(a.Float), pub("98.42 %"))
	fmt.Fprintf(&b, "| trained in float | ideal integer device | %s |%s\n", pct(a.Ideal), pub(""))
	fmt.Fprintf(&b, "| trained in float, moved without retraining | %s | %s |%s\n", dev, pctTrials(a.ChipDirect), pub("91.54 %"))
	fmt.Fprintf(&b, "| retrained with %s in the loop (%d epochs) | %s | %s |%s\n", dev, c.HILEpochs, dev, pctTrials(a.ChipHIL), pub("98.0 %"))
	fmt.Fprintf(&b, "| retrained with %s in the loop | %s | %s |%s\n", dev, other, pctTrials(a.ChipHILOtherChip), pub(""))
	fmt.Fprintf(&b, "| retrained with %s in the loop | ideal integer device | %s |%s\n", dev, pct(a.IdealHIL), pub(""))
	t := res.Throughput
	fmt.Fprintf(&b, "\nThroughput: float training %.0f img/s, in-the-loop training %.0f img/s, chip evaluation %.0f img/s.\n", t.TrainFloat, t.TrainHIL, t.EvalChip)
	return b.String()
}

// Curves plots loss and test accuracy per epoch for float training and
// in-the-loop retraining (epochs continue across the two phases), with the
// direct-transfer accuracy marked.
func Curves(res *Results) ([]byte, error) {
	hf, hh := res.History.Float, res.History.HIL
	series := func(get func(EpochStats) float64) (plotter.XYs, plotter.XYs) {
		f := make(plotter.XYs, len(hf))
		for i, st := range hf {
			f[i] = plotter.XY{X: float64(i + 1), Y: get(st)}
		}
		h := make(plotter.XYs, len(hh))
		for i, st := range hh {
			h[i] = plotter.XY{X: float64(len(hf) + i + 1), Y: get(st)}
		}
		return f, h
	}
	blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange := color.RGBA{R: 255, G: 127, B: 14, A: 255}
	red := color.RGBA{R: 214, G: 39, B: 40, A: 255}
	line := func(p *plot.Plot, xy plotter.XYs, c color.Color, name string) error {
		if len(xy) == 0 {
			return nil
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, s.Color = c, c
		l.Width = vg.Points(1.5)
		p.Add(l, s)
		p.Legend.Add(name, l, s)
		return nil
	}

	lossP := plot.New()
	lossP.Title.Text = "Training loss"
	lossP.X.Label.Text = "epoch"
	lossP.Y.Label.Text = "cross-entropy"
	lf, lh := series(func(s EpochStats) float64 { return s.Loss })
	if err := line(lossP, lf, blue, "float training"); err != nil {
		return nil, err
	}
	if err := line(lossP, lh, orange, fmt.Sprintf("chip %d in the loop", res.Config.Chip)); err != nil {
		return nil, err
	}
	lossP.Legend.Top = true

	accP := plot.New()
	accP.Title.Text = "Test accuracy"
	accP.X.Label.Text = "epoch"
	accP.Y.Label.Text = "accuracy (%)"
	af, ah := series(func(s EpochStats) float64 { return 100 * s.TestAcc })
	if err := line(accP, af, blue, "float (host)"); err != nil {
		return nil, err
	}
	if err := line(accP, ah, orange, fmt.Sprintf("on chip %d, in the loop", res.Config.Chip)); err != nil {
		return nil, err
	}
	if d := res.Accuracy.ChipDirect; len(d.Trials) > 0 {
		n := float64(len(hf) + len(hh))
		l, err := plotter.NewLine(plotter.XYs{{X: 1, Y: 100 * d.Mean}, {X: max(n, 2), Y: 100 * d.Mean}})
		if err != nil {
			return nil, err
		}
		l.Color = red
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		accP.Add(l)
		accP.Legend.Add(fmt.Sprintf("float net moved to chip %d (%.2f %%)", res.Config.Chip, 100*d.Mean), l)
	}
	accP.Legend.Top = false
	accP.Legend.Left = false
	accP.Legend.YOffs = vg.Points(10)
	accP.Add(plotter.NewGrid())

	img := vgimg.New(vg.Points(900), vg.Points(380))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(20), PadY: vg.Points(10), PadTop: vg.Points(10), PadBottom: vg.Points(10), PadLeft: vg.Points(10), PadRight: vg.Points(10)}
	plots := [][]*plot.Plot{{lossP, accP}}
	canvases := plot.Align(plots, tiles, dc)
	lossP.Draw(canvases[0][0])
	accP.Draw(canvases[0][1])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
