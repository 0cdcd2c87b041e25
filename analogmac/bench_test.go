package analogmac

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/analogloop/analogloop/internal/benchcpu"
)

// BenchmarkMatMul times a batch of 100 vectors through one 128 x 256 block
// and through the 500 x 128 dense layer of the MNIST network (4 row blocks),
// and the MNIST conv layer's patches, for each device, and reports
// multiply-accumulates per second.
func BenchmarkMatMul(b *testing.B) {
	for _, kind := range Kinds() {
		for _, sh := range benchShapes {
			b.Run(kind+"/"+sh.name, func(b *testing.B) {
				d, err := NewDevice(kind, 1)
				if err != nil {
					b.Fatal(err)
				}
				x, w := randomOperands(rand.New(rand.NewPCG(7, 7)), sh.s)
				dst := make([]int8, sh.s.Batch*sh.s.Cols)
				b.ReportAllocs()
				ctx := context.Background()
				prog, err := d.Program(ctx, Matrix{Rows: sh.s.Rows, Cols: sh.s.Cols, Weights: w, Sends: 3})
				if err != nil {
					b.Fatal(err)
				}
				defer prog.Close()
				var key uint64
				cpu := benchcpu.Start()
				for b.Loop() {
					key++
					if err := prog.Run(ctx, dst, x, sh.s.Batch, key); err != nil {
						b.Fatal(err)
					}
				}
				// CPU time over all threads: steadier than ns/op on a busy machine.
				cpu.Report(b)
				macs := float64(sh.s.Batch * sh.s.Rows * sh.s.Cols)
				b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
			})
		}
	}
}

// benchShapes are the products of BenchmarkMatMul and BenchmarkChipOverIdeal.
var benchShapes = []struct {
	name string
	s    Shape
}{
	{"block128x256", Shape{Batch: 100, Rows: 128, Cols: 256}},
	{"layer500x128", Shape{Batch: 100, Rows: 500, Cols: 128}},
	// The MNIST conv layer at batch 100: 25 patches per image.
	{"conv2500x100x20", Shape{Batch: 2500, Rows: 100, Cols: 20}},
}

// BenchmarkChipOverIdeal runs the same product on the Chip and on Ideal in
// turn, every iteration (the order alternating), and reports the Chip's
// time as a multiple of Ideal's, wall and CPU: a ratio of two measurements
// taken microseconds apart, steadier on a busy machine than a ratio of two
// benchmarks run seconds apart.
func BenchmarkChipOverIdeal(b *testing.B) {
	ctx := context.Background()
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			x, w := randomOperands(rand.New(rand.NewPCG(7, 7)), sh.s)
			dst := make([]int8, sh.s.Batch*sh.s.Cols)
			var progs [2]Program // ideal, chip
			for i, kind := range []string{KindIdeal, KindChip} {
				d, err := NewDevice(kind, 1)
				if err != nil {
					b.Fatal(err)
				}
				if progs[i], err = d.Program(ctx, Matrix{Rows: sh.s.Rows, Cols: sh.s.Cols, Weights: w, Sends: 3}); err != nil {
					b.Fatal(err)
				}
				defer progs[i].Close()
			}
			var wall [2]time.Duration
			var cpu [2]time.Duration
			var key uint64
			for b.Loop() {
				key++
				for j := range 2 {
					i := (j + int(key)) % 2
					c0, t0 := benchcpu.Now(), time.Now()
					if err := progs[i].Run(ctx, dst, x, sh.s.Batch, key); err != nil {
						b.Fatal(err)
					}
					wall[i] += time.Since(t0)
					cpu[i] += benchcpu.Now() - c0
				}
			}
			b.ReportMetric(float64(wall[1])/float64(wall[0]), "x-ideal")
			if cpu[0] > 0 {
				b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-x-ideal")
			}
		})
	}
}

// randomOperands returns uniformly random inputs and weights of shape s.
func randomOperands(rng *rand.Rand, s Shape) ([]uint8, []int8) {
	x := make([]uint8, s.Batch*s.Rows)
	for i := range x {
		x[i] = uint8(rng.IntN(InputMax + 1))
	}
	w := make([]int8, s.Rows*s.Cols)
	for i := range w {
		w[i] = int8(rng.IntN(2*WeightMax+1) - WeightMax)
	}
	return x, w
}
