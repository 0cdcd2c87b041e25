package plots

import (
	"errors"
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Phase is one training phase's per-epoch history. Phases follow each other
// on the epoch axis.
type Phase struct {
	LossLabel string    // legend of its loss curve
	AccLabel  string    // legend of its test-accuracy curve
	Loss      []float64 // per epoch
	Accuracy  []float64 // test accuracy per epoch, as a fraction
}

// Curves is a run's training history: the phases in order and, optionally,
// a reference accuracy drawn as a dashed line (direct transfer, say).
type Curves struct {
	Phases         []Phase
	Reference      float64 // a fraction; drawn only when ReferenceLabel is set
	ReferenceLabel string
}

// TrainingCurves draws loss and test accuracy per epoch side by side,
// 900 x 380 points.
func TrainingCurves(out io.Writer, c Curves) error {
	if len(c.Phases) == 0 {
		return errors.New("plots: training curves: no phases")
	}
	lossP := plot.New()
	lossP.Title.Text = "Training loss"
	lossP.X.Label.Text = "epoch"
	lossP.Y.Label.Text = "cross-entropy"
	accP := plot.New()
	accP.Title.Text = "Test accuracy"
	accP.X.Label.Text = "epoch"
	accP.Y.Label.Text = "accuracy (%)"
	epoch := 0
	for i, ph := range c.Phases {
		if err := line(lossP, epochs(epoch, ph.Loss, 1), colour(i), ph.LossLabel); err != nil {
			return err
		}
		if err := line(accP, epochs(epoch, ph.Accuracy, 100), colour(i), ph.AccLabel); err != nil {
			return err
		}
		epoch += len(ph.Loss)
	}
	lossP.Legend.Top = true
	if c.ReferenceLabel != "" {
		l, err := plotter.NewLine(plotter.XYs{{X: 1, Y: 100 * c.Reference}, {X: max(float64(epoch), 2), Y: 100 * c.Reference}})
		if err != nil {
			return err
		}
		l.Color = colour(3)
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		accP.Add(l)
		accP.Legend.Add(fmt.Sprintf("%s (%.2f %%)", c.ReferenceLabel, 100*c.Reference), l)
	}
	accP.Legend.Top = false
	accP.Legend.Left = false
	accP.Legend.YOffs = vg.Points(10)
	accP.Add(plotter.NewGrid())
	return writePNG(out, vg.Points(900), vg.Points(380), vgDefaultDPI, lossP, accP)
}

// vgDefaultDPI is vgimg's default resolution.
const vgDefaultDPI = 96

// epochs numbers the values 1-based from after epoch first.
func epochs(first int, v []float64, scale float64) plotter.XYs {
	xy := make(plotter.XYs, len(v))
	for i, y := range v {
		xy[i] = plotter.XY{X: float64(first + i + 1), Y: scale * y}
	}
	return xy
}

// line adds a line with points and its legend entry; nothing for no data.
func line(p *plot.Plot, xy plotter.XYs, c color.Color, name string) error {
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
