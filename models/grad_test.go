package models

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// TestFloatGradientsMatchFiniteDifferences checks the whole graph's
// backward pass in float mode against central differences of the loss.
func TestFloatGradientsMatchFiniteDifferences(t *testing.T) {
	for _, name := range Builtins() {
		t.Run(name, func(t *testing.T) {
			spec, err := Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			spec.LogitScale = 1.0 / 32
			in, classes := geometryFor(name)
			net, err := Build(spec, in, classes)
			if err != nil {
				t.Fatal(err)
			}
			net.Init(3)
			// Small weights keep every output inside its clamps and every
			// hidden unit below the ConvertingReLU's ceiling, where the
			// straight-through gradient is the true gradient.
			for _, p := range net.Params() {
				for i := range p.Data() {
					p.Data()[i] *= 0.3
				}
			}
			gr, err := net.NewGraph(GraphOptions{Batch: 64, Train: true})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range gr.Input() {
				gr.Input()[i] = float32(rng.IntN(32))
			}
			if err := gr.SetLabels(testLabels(64, classes)); err != nil {
				t.Fatal(err)
			}
			if err := gr.Run(ctx, nil); err != nil {
				t.Fatal(err)
			}
			grads := make([][]float32, len(gr.Grads()))
			for i, g := range gr.Grads() {
				grads[i] = append([]float32(nil), g...)
			}
			lossAt := func() float64 {
				if err := gr.Run(ctx, nil); err != nil {
					t.Fatal(err)
				}
				return gr.Loss()
			}
			checked := 0
			for pi, p := range gr.Params() {
				w := p.Data()
				for trial := 0; trial < 15; trial++ {
					i := rng.IntN(len(w))
					const h = 0.05
					old := w[i]
					w[i] = old + h
					up := lossAt()
					w[i] = old - h
					down := lossAt()
					w[i] = old
					fd := (up - down) / (2 * h)
					an := float64(grads[pi][i])
					if math.Abs(fd-an) > 2e-3*math.Max(1e-2, math.Abs(fd)+math.Abs(an)) && math.Abs(fd-an) > 1e-5 {
						t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", p.Name, i, an, fd)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no gradient checked")
			}
		})
	}
}

func testLabels(n, classes int) []uint8 {
	l := make([]uint8, n)
	for i := range l {
		l[i] = uint8((i * 7) % classes)
	}
	return l
}

var ctx = context.Background()

// mnistInput is the geometry of MNIST-like data.
var mnistInput = Input{Height: 28, Width: 28, Channels: 1}

// geometryFor returns the data geometry a built-in model is tested with.
func geometryFor(name string) (Input, int) {
	if name == YinYangName {
		return Input{Height: 1, Width: 4, Channels: 1}, 3
	}
	return mnistInput, 10
}
