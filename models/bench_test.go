package models

import (
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// BenchmarkTrainStep is one full training step of the MNIST network at
// batch 100: forward on the mode's device, backward on the host, Adam.
func BenchmarkTrainStep(b *testing.B) {
	for _, mode := range append([]string{"float"}, analogmac.Kinds()...) {
		b.Run(mode, func(b *testing.B) {
			net, err := New(BSS2MNISTName, mnistInput, 10)
			if err != nil {
				b.Fatal(err)
			}
			net.Init(1)
			var d analogmac.Device
			if mode != "float" {
				if d, err = analogmac.NewDevice(mode, 1); err != nil {
					b.Fatal(err)
				}
			}
			const batch = 100
			gr, err := net.NewGraph(GraphOptions{Batch: batch, Train: true, On: d})
			if err != nil {
				b.Fatal(err)
			}
			defer gr.Close()
			// MNIST-like input: about a fifth of the pixels lit.
			for i := range gr.Input() {
				if i%5 == 0 {
					gr.Input()[i] = float32(16 + i%16)
				}
			}
			labels := make([]uint8, batch)
			for i := range labels {
				labels[i] = uint8(i % 10)
			}
			if err := gr.SetLabels(labels); err != nil {
				b.Fatal(err)
			}
			opt := layers.NewAdam(0.1)
			keys := analogmac.NewNoiseKeys(1)
			for b.Loop() {
				if err := gr.Run(ctx, keys); err != nil {
					b.Fatal(err)
				}
				if err := opt.Update(gr.Params(), gr.Grads()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
