package plots

import (
	"image/color"
	"io"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours of successive series (matplotlib's first four, which readers of
// the field know).
var palette = []color.RGBA{
	{R: 31, G: 119, B: 180, A: 255},
	{R: 255, G: 127, B: 14, A: 255},
	{R: 44, G: 160, B: 44, A: 255},
	{R: 214, G: 39, B: 40, A: 255},
	{R: 148, G: 103, B: 189, A: 255},
	{R: 140, G: 86, B: 75, A: 255},
	{R: 227, G: 119, B: 194, A: 255},
	{R: 127, G: 127, B: 127, A: 255},
}

func colour(i int) color.RGBA { return palette[i%len(palette)] }

// writePNG draws the plots side by side on a w x h point canvas at dpi.
func writePNG(out io.Writer, w, h vg.Length, dpi int, plots ...*plot.Plot) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	if len(plots) == 1 {
		plots[0].Draw(dc)
	} else {
		tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(20), PadY: vg.Points(10),
			PadTop: vg.Points(10), PadBottom: vg.Points(10), PadLeft: vg.Points(10), PadRight: vg.Points(10)}
		canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
		for i, p := range plots {
			p.Draw(canvases[0][i])
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(out)
	return err
}

// ticks returns labelled marks from lo to hi in steps of step.
func ticks(lo, hi, step int) []plot.Tick {
	var t []plot.Tick
	for v := lo; v <= hi; v += step {
		t = append(t, plot.Tick{Value: float64(v), Label: strconv.Itoa(v)})
	}
	return t
}
