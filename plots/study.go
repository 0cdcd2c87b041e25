package plots

import (
	"fmt"
	"github.com/analogloop/analogloop/calib"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// StrategyBar is one strategy of the study: its accuracy on its own chip
// and over the unseen chips (percent, with stds).
type StrategyBar struct {
	Name              string
	Own, OwnStd       float64
	Unseen, UnseenStd float64
}

// RefLine is a horizontal reference line.
type RefLine struct {
	Label string
	Value float64
}

// StudyBars draws two bars per strategy (own chip, unseen chips) with
// their stds as error bars and dashed reference lines; 1500 x 825 pixels.
// The y axis starts a little below the lowest bar so that differences of
// tenths of a point show.
func StudyBars(out io.Writer, title string, bars []StrategyBar, refs []RefLine) error {
	if len(bars) == 0 {
		return fmt.Errorf("plots: no strategies")
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "accuracy (%)"
	lo, hi := math.Inf(1), math.Inf(-1)
	own := make(plotter.Values, len(bars))
	unseen := make(plotter.Values, len(bars))
	var names []string
	for i, b := range bars {
		own[i], unseen[i] = b.Own, b.Unseen
		lo = math.Min(lo, math.Min(b.Own-b.OwnStd, b.Unseen-b.UnseenStd))
		hi = math.Max(hi, math.Max(b.Own+b.OwnStd, b.Unseen+b.UnseenStd))
		names = append(names, b.Name)
	}
	for _, r := range refs {
		lo, hi = math.Min(lo, r.Value), math.Max(hi, r.Value)
	}
	// Room above the bars for the legend; ticks only up to 100 %.
	p.Y.Min = math.Floor(lo - 0.5)
	p.Y.Max = hi + 0.5*(hi-p.Y.Min)
	step := math.Max(1, math.Ceil((math.Min(100, p.Y.Max)-p.Y.Min)/8))
	var yt []plot.Tick
	for v := p.Y.Min; v <= math.Min(100, p.Y.Max)+1e-9; v += step {
		yt = append(yt, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	const w = 0.36 // bar width, in categories
	for k, s := range []struct {
		name string
		v    plotter.Values
		std  func(StrategyBar) float64
	}{{"own chip", own, func(b StrategyBar) float64 { return b.OwnStd }},
		{"unseen chips (mean ± std over chips)", unseen, func(b StrategyBar) float64 { return b.UnseenStd }}} {
		off := float64(2*k-1) * w / 2
		rb := &rangeBars{values: s.v, base: p.Y.Min, width: w, offset: off, color: colour(k)}
		p.Add(rb)
		p.Legend.Add(s.name, rb)
		eb := errBars{}
		for i, b := range bars {
			eb = append(eb, errBar{x: float64(i) + off, y: s.v[i], e: s.std(b)})
		}
		yb, err := plotter.NewYErrorBars(eb)
		if err != nil {
			return err
		}
		yb.CapWidth = vg.Points(5)
		p.Add(yb)
	}
	for i, r := range refs {
		l, err := plotter.NewLine(plotter.XYs{{X: -0.6, Y: r.Value}, {X: float64(len(bars)) - 0.4, Y: r.Value}})
		if err != nil {
			return err
		}
		l.Color = color.Gray{Y: uint8(90 + 50*i)}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(r.Label, l)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.35
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(6)
	p.Add(plotter.NewGrid())
	return writePNG(out, 10*vg.Inch, 5.5*vg.Inch, 150, p)
}

// rangeBars draws bars from base up to each value (vertical, centred at x
// = i + offset, width wide, both in data units): a bar chart whose bars
// start at the axis minimum rather than at 0.
type rangeBars struct {
	values        plotter.Values
	base          float64
	width, offset float64
	color         color.Color
}

func (b *rangeBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	c.SetColor(b.color)
	for i, v := range b.values {
		x0, x1 := trX(float64(i)+b.offset-b.width/2), trX(float64(i)+b.offset+b.width/2)
		y0, y1 := trY(b.base), trY(v)
		var p vg.Path
		p.Move(vg.Point{X: x0, Y: y0})
		p.Line(vg.Point{X: x1, Y: y0})
		p.Line(vg.Point{X: x1, Y: y1})
		p.Line(vg.Point{X: x0, Y: y1})
		p.Close()
		c.Fill(p)
	}
}

func (b *rangeBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = b.base, b.base
	for _, v := range b.values {
		ymax = math.Max(ymax, v)
	}
	return -0.6, float64(len(b.values)) - 0.4, ymin, ymax
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (b *rangeBars) Thumbnail(c *draw.Canvas) {
	c.SetColor(b.color)
	c.Fill(c.Rectangle.Path())
}

type errBar struct{ x, y, e float64 }
type errBars []errBar

func (e errBars) Len() int                        { return len(e) }
func (e errBars) XY(i int) (float64, float64)     { return e[i].x, e[i].y }
func (e errBars) YError(i int) (float64, float64) { return e[i].e, e[i].e }

// SweepSeries is one curve of the deviation sweep: accuracy (percent)
// against the scale of the fixed-pattern magnitudes.
type SweepSeries struct {
	Name      string
	X, Y, Err []float64
}

// PublishedMarks are the published 2020 figures to mark on the sweep,
// percent, the float network's accuracy, and the scale at which direct
// transfer loses what the published chip lost (0: none).
type PublishedMarks struct {
	Software, Direct, InLoop float64
	Float                    float64
	Scale                    float64
}

// Sweep draws the deviation sweep: one line with error bars per series,
// the published figures as dashed lines and, where direct transfer loses
// the published drop, a vertical mark; 1200 x 825 pixels.
func Sweep(out io.Writer, title string, series []SweepSeries, pub PublishedMarks) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "fixed-pattern magnitudes (column gain, offset, synapse mismatch) x default"
	p.Y.Label.Text = "accuracy on the chip (%)"
	lo, xmax := pub.Direct, 0.0
	for _, s := range series {
		for i, y := range s.Y {
			lo = math.Min(lo, y-s.Err[i])
			xmax = math.Max(xmax, s.X[i])
		}
	}
	p.Y.Min, p.Y.Max = math.Floor(lo-1), 100
	p.X.Min, p.X.Max = -0.1, xmax+0.1
	ystep := 1.0
	for _, st := range []float64{2, 5, 10, 20} {
		if (p.Y.Max-p.Y.Min)/ystep <= 10 {
			break
		}
		ystep = st
	}
	var yt []plot.Tick
	for v := p.Y.Max; v >= p.Y.Min; v -= ystep {
		yt = append(yt, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	p.Add(plotter.NewGrid())
	for i, s := range series {
		pts := make(plotter.XYs, len(s.X))
		eb := errBars{}
		for j := range s.X {
			pts[j] = plotter.XY{X: s.X[j], Y: s.Y[j]}
			eb = append(eb, errBar{x: s.X[j], y: s.Y[j], e: s.Err[j]})
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = colour(i), colour(i)
		l.Width = vg.Points(1.5)
		sc.Shape = draw.CircleGlyph{}
		yb, err := plotter.NewYErrorBars(eb)
		if err != nil {
			return err
		}
		yb.Color = colour(i)
		p.Add(l, sc, yb)
		p.Legend.Add(s.Name, l, sc)
	}
	for i, m := range []struct {
		label string
		v     float64
	}{{"published: software (98.42 %)", pub.Software}, {"published: chip, no retraining (91.54 %)", pub.Direct},
		{"published: chip, in the loop (98.0 %)", pub.InLoop}} {
		l, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: m.v}, {X: p.X.Max, Y: m.v}})
		if err != nil {
			return err
		}
		l.Color = []color.Color{color.Gray{Y: 60}, colour(0), colour(2)}[i]
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		l.Width = vg.Points(0.8)
		p.Add(l)
		p.Legend.Add(m.label, l)
	}
	if pub.Scale > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: pub.Scale, Y: p.Y.Min}, {X: pub.Scale, Y: p.Y.Max}})
		if err != nil {
			return err
		}
		l.Color = color.Gray{Y: 120}
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(l)
		// The published chip's points, placed where direct transfer loses
		// as much as it did.
		s, err := plotter.NewScatter(plotter.XYs{{X: pub.Scale, Y: pub.Direct}, {X: pub.Scale, Y: pub.InLoop}})
		if err != nil {
			return err
		}
		s.Shape = draw.PyramidGlyph{}
		s.Radius = vg.Points(5)
		s.Color = color.Black
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("published 2020 chip, placed at %.2f x (where direct transfer loses as much)", pub.Scale), s)
	}
	p.Legend.Top = false
	p.Legend.Left = true
	return writePNG(out, 8*vg.Inch, 5.5*vg.Inch, 150, p)
}

// ColumnParams are a calibration's per-column parameters, by physical
// column.
type ColumnParams struct {
	Gain, Offset, Noise  []float64
	LinearPos, LinearNeg []float64
}

// Columns draws a calibration: gain, offset, linear range of both
// branches and noise against the physical column, four panels side by
// side; 2400 x 600 pixels. Linear ranges at noSat (no saturation seen)
// are left out.
func Columns(out io.Writer, title string, c ColumnParams, noSat float64) error {
	n := len(c.Gain)
	if n == 0 || len(c.Offset) != n || len(c.Noise) != n || len(c.LinearPos) != n || len(c.LinearNeg) != n {
		return fmt.Errorf("plots: column parameters of unequal lengths")
	}
	panel := func(name, unit string) *plot.Plot {
		p := plot.New()
		p.Title.Text = name
		p.X.Label.Text = "physical column"
		p.Y.Label.Text = unit
		p.X.Min, p.X.Max = 0, float64(n)
		p.X.Tick.Marker = plot.ConstantTicks(ticks(0, n, 128))
		p.Add(plotter.NewGrid())
		return p
	}
	scatter := func(p *plot.Plot, v []float64, i int, label string, skip float64) error {
		var pts plotter.XYs
		for j, y := range v {
			if y != skip {
				pts = append(pts, plotter.XY{X: float64(j), Y: y})
			}
		}
		if len(pts) == 0 {
			return nil
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		s.Color = colour(i)
		s.Radius = vg.Points(1.2)
		s.Shape = draw.CircleGlyph{}
		p.Add(s)
		if label != "" {
			p.Legend.Add(label, s)
		}
		return nil
	}
	g := panel(title+": gain", "gain / nominal")
	o := panel("offset per block", "LSB")
	l := panel("linear range (where saturation shows)", "LSB")
	l.Legend.Top = true
	z := panel("trial noise (std)", "LSB")
	for _, e := range []error{
		scatter(g, c.Gain, 0, "", math.NaN()),
		scatter(o, c.Offset, 1, "", math.NaN()),
		scatter(l, c.LinearPos, 2, "positive branch", noSat),
		scatter(l, c.LinearNeg, 3, "negative branch", noSat),
		scatter(z, c.Noise, 4, "", math.NaN()),
	} {
		if e != nil {
			return e
		}
	}
	// Room above the points for the legend.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range append(append([]float64{}, c.LinearPos...), c.LinearNeg...) {
		if v != noSat {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo <= hi {
		l.Y.Min, l.Y.Max = lo-2, hi+0.3*(hi-lo)+2
	}
	return writePNG(out, 16*vg.Inch, 4*vg.Inch, 150, g, o, l, z)
}

// Calibration draws a calibration file's per-column parameters (see
// Columns).
func Calibration(out io.Writer, title string, cal *calib.Calibration) error {
	var p ColumnParams
	for _, c := range cal.Columns {
		p.Gain = append(p.Gain, c.Gain)
		p.Offset = append(p.Offset, c.Offset)
		p.Noise = append(p.Noise, c.Noise)
		p.LinearPos = append(p.LinearPos, c.Pos.Linear)
		p.LinearNeg = append(p.LinearNeg, c.Neg.Linear)
	}
	return Columns(out, title, p, calib.NoSaturation)
}
