package plots

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/analogloop/analogloop/analogmac"
)

// Characterization draws the characterisation experiment as the published
// figure does: mean ± std output against weight, one line per input value,
// with the published linear range (±80 LSB) as dashed guides; 1200 x 825
// pixels.
func Characterization(out io.Writer, ch *analogmac.Characterization) error {
	p := plot.New()
	p.Title.Text = ch.Title()
	p.X.Label.Text = "weight (6-bit + sign, LSB)"
	p.Y.Label.Text = "output (ADC LSB)"
	p.X.Min, p.X.Max = -analogmac.WeightMax-2, analogmac.WeightMax+2
	p.Y.Min, p.Y.Max = analogmac.OutputMin-4, analogmac.OutputMax+4
	p.Legend.Top = false // bottom right: the curves leave that corner empty
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	p.X.Tick.Marker = plot.ConstantTicks(ticks(-63, 63, 21))
	p.Y.Tick.Marker = plot.ConstantTicks(ticks(-120, 120, 40))
	p.Add(plotter.NewGrid())
	for _, y := range []float64{-80, 80} {
		l, err := plotter.NewLine(plotter.XYs{{X: -analogmac.WeightMax - 2, Y: y}, {X: analogmac.WeightMax + 2, Y: y}})
		if err != nil {
			return err
		}
		l.Color = color.Gray{Y: 150}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		if y > 0 {
			p.Legend.Add("published linear range ±80", l)
		}
	}
	for i, in := range ch.Inputs {
		pts := errPoints{weights: ch.Weights, mean: ch.Mean[i], std: ch.Std[i]}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.2)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		bars.CapWidth = vg.Points(2)
		p.Add(line, bars)
		p.Legend.Add(fmt.Sprintf("input %d", in), line)
	}
	return writePNG(out, 8*vg.Inch, 5.5*vg.Inch, 150, p)
}

// errPoints serves one input's curve to plotter.Line and YErrorBars.
type errPoints struct {
	weights   []int
	mean, std []float64
}

func (e errPoints) Len() int                    { return len(e.weights) }
func (e errPoints) XY(i int) (float64, float64) { return float64(e.weights[i]), e.mean[i] }
func (e errPoints) YError(i int) (float64, float64) {
	return e.std[i], e.std[i]
}
