package calib

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// BenchmarkDevices compares the twin and the corrected chip with the chip
// on the MNIST network's largest layers (batch 100).
func BenchmarkDevices(b *testing.B) {
	ctx := context.Background()
	chip, err := analogmac.NewChip(1, analogmac.DefaultChipConfig())
	if err != nil {
		b.Fatal(err)
	}
	cal, err := Characterize(ctx, chip, DefaultProtocol(chip.Gain()))
	if err != nil {
		b.Fatal(err)
	}
	twin, _ := NewTwin(cal)
	corr, _ := NewCorrected(chip, cal, CorrectOptions{Weights: true})
	shapes := []struct {
		name              string
		batch, rows, cols int
	}{{"conv-2500x100x20", 2500, 100, 20}, {"dense-100x500x128", 100, 500, 128}}
	for _, s := range shapes {
		rng := rand.New(rand.NewPCG(1, 2))
		w := make([]int8, s.rows*s.cols)
		for i := range w {
			w[i] = int8(rng.IntN(41) - 20)
		}
		x := make([]uint8, s.batch*s.rows)
		for i := range x {
			x[i] = uint8(rng.IntN(32))
		}
		y := make([]int8, s.batch*s.cols)
		for _, d := range []struct {
			name string
			dev  analogmac.Device
		}{{"chip", chip}, {"twin", twin}, {"corrected", corr}} {
			b.Run(s.name+"/"+d.name, func(b *testing.B) {
				p, err := d.dev.Program(ctx, analogmac.Matrix{Rows: s.rows, Cols: s.cols, Weights: w, Sends: 3})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				for i := 0; b.Loop(); i++ {
					if err := p.Run(ctx, y, x, s.batch, uint64(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
