package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// TestRunnerMatchesGorgonia: the layers.Runner that graphs use by default
// and the Gorgonia graph of the same network give the same logits, loss
// and gradients, bit for bit, on every built-in model, in float mode and
// on every device, over training steps whose Adam updates reprogram the
// device and with noise keys drawn across steps; and evaluation graphs
// give the same logits. Training runs are reproducible to the last bit
// only if this holds.
func TestRunnerMatchesGorgonia(t *testing.T) {
	for _, name := range Builtins() {
		for _, mode := range append([]string{"float"}, analogmac.Kinds()...) {
			for _, train := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/train=%v", name, mode, train), func(t *testing.T) {
					in, classes := geometryFor(name)
					var nets [2]*Network
					var graphs [2]*Graph
					var opts [2]*layers.Adam
					for i := range 2 {
						net, err := New(name, in, classes)
						if err != nil {
							t.Fatal(err)
						}
						net.Init(7)
						var d analogmac.Device
						if mode != "float" {
							if d, err = analogmac.NewDevice(mode, 1); err != nil {
								t.Fatal(err)
							}
						}
						gr, err := net.NewGraph(GraphOptions{Batch: 37, Train: train, On: d, Gorgonia: i == 1})
						if err != nil {
							t.Fatal(err)
						}
						defer gr.Close()
						if (gr.run != nil) != (i == 0) {
							t.Fatalf("graph %d: runner %v", i, gr.run != nil)
						}
						nets[i], graphs[i], opts[i] = net, gr, layers.NewAdam(0.5)
					}
					keys := [2]*analogmac.NoiseKeys{analogmac.NewNoiseKeys(3), analogmac.NewNoiseKeys(3)}
					rng := rand.New(rand.NewPCG(4, 4))
					for step := range 4 {
						labels := make([]uint8, 37)
						x := graphs[0].Input()
						for i := range x {
							x[i] = 0
							if rng.IntN(3) == 0 {
								x[i] = float32(rng.IntN(32))
							}
						}
						for i := range labels {
							labels[i] = uint8(rng.IntN(classes))
						}
						copy(graphs[1].Input(), x)
						for i, gr := range graphs {
							if err := gr.SetLabels(labels); err != nil {
								t.Fatal(err)
							}
							if err := gr.Run(ctx, keys[i]); err != nil {
								t.Fatal(err)
							}
						}
						where := fmt.Sprintf("step %d", step)
						sameBits(t, where+" logits", graphs[0].Logits(), graphs[1].Logits())
						if !train {
							continue
						}
						if a, b := graphs[0].Loss(), graphs[1].Loss(); math.Float64bits(a) != math.Float64bits(b) {
							t.Fatalf("%s: loss %v, Gorgonia %v", where, a, b)
						}
						ga, gb := graphs[0].Grads(), graphs[1].Grads()
						if len(ga) != len(gb) {
							t.Fatalf("%d gradients, Gorgonia %d", len(ga), len(gb))
						}
						for p := range ga {
							sameBits(t, fmt.Sprintf("%s gradient %d", where, p), ga[p], gb[p])
						}
						for i := range graphs {
							if err := opts[i].Update(graphs[i].Params(), graphs[i].Grads()); err != nil {
								t.Fatal(err)
							}
						}
					}
				})
			}
		}
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, Gorgonia %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %v, Gorgonia %v", what, i, got[i], want[i])
		}
	}
}

// TestRunnerRefusesWhatItCannotRun: networks outside the runner's patterns
// fall back to Gorgonia and still work.
func TestRunnerRefusesWhatItCannotRun(t *testing.T) {
	net, err := New(MLPName, Input{Height: 1, Width: 6, Channels: 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	// A bias is not one of the runner's layers.
	net.Layers = append(net.Layers, layers.NewBias("b", 3))
	net.Init(1)
	gr, err := net.NewGraph(GraphOptions{Batch: 4, Train: true, On: analogmac.NewIdeal()})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	if gr.run != nil {
		t.Fatal("a network with a bias went to the runner")
	}
	if err := gr.SetLabels([]uint8{0, 1, 2, 0}); err != nil {
		t.Fatal(err)
	}
	if err := gr.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(gr.Grads()) != 3 {
		t.Fatalf("%d gradients, want 3", len(gr.Grads()))
	}
}

// TestRunnerRefusesBadInputsLikeGorgonia: a non-integer input on a device
// is refused with the same error by both executors.
func TestRunnerRefusesBadInputsLikeGorgonia(t *testing.T) {
	for _, name := range []string{BSS2MNISTName, MLPName} {
		var msgs [2]string
		for i := range 2 {
			net, err := New(name, mnistInput, 10)
			if err != nil {
				t.Fatal(err)
			}
			gr, err := net.NewGraph(GraphOptions{Batch: 3, On: analogmac.NewIdeal(), Gorgonia: i == 1})
			if err != nil {
				t.Fatal(err)
			}
			gr.Input()[400] = 2.5
			err = gr.Run(ctx, nil)
			gr.Close()
			if err == nil {
				t.Fatalf("%s: input 2.5 accepted", name)
			}
			msgs[i] = err.Error()
		}
		if msgs[0] != msgs[1] {
			t.Errorf("%s: runner says %q, Gorgonia %q", name, msgs[0], msgs[1])
		}
	}
}
