package models

import (
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/internal/benchcpu"
	"github.com/analogloop/analogloop/internal/sgemm"
	"github.com/analogloop/analogloop/layers"
)

// stepBatch is the batch of the training benchmarks: the default run's.
const stepBatch = 100

// trainStep is one training step of the MNIST network at batch 100 in a
// mode ("float" or a device kind): forward on the mode's device, backward
// on the host, Adam.
type trainStep struct {
	gr   *Graph
	opt  *layers.Adam
	keys *analogmac.NoiseKeys
}

func newTrainStep(b *testing.B, mode string, gorgonia bool) *trainStep {
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
	gr, err := net.NewGraph(GraphOptions{Batch: stepBatch, Train: true, On: d, Gorgonia: gorgonia})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gr.Close() })
	// MNIST-like input: about a fifth of the pixels lit.
	for i := range gr.Input() {
		if i%5 == 0 {
			gr.Input()[i] = float32(16 + i%16)
		}
	}
	labels := make([]uint8, stepBatch)
	for i := range labels {
		labels[i] = uint8(i % 10)
	}
	if err := gr.SetLabels(labels); err != nil {
		b.Fatal(err)
	}
	return &trainStep{gr: gr, opt: layers.NewAdam(0.1), keys: analogmac.NewNoiseKeys(1)}
}

func (s *trainStep) run(b *testing.B) {
	if err := s.gr.Run(ctx, s.keys); err != nil {
		b.Fatal(err)
	}
	if err := s.opt.Update(s.gr.Params(), s.gr.Grads()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTrainStep is one full training step of the MNIST network at
// batch 100 in each mode: forward on the mode's device, backward on the
// host, Adam. The gorgonia sub-benchmarks run the same step on Gorgonia's
// TapeMachine (GraphOptions.Gorgonia): the difference is the cost of the
// graph machinery.
func BenchmarkTrainStep(b *testing.B) {
	for _, exec := range []string{"", "gorgonia/"} {
		for _, mode := range append([]string{"float"}, analogmac.Kinds()...) {
			b.Run(exec+mode, func(b *testing.B) {
				s := newTrainStep(b, mode, exec != "")
				b.ReportAllocs()
				cpu := benchcpu.Start()
				for b.Loop() {
					s.run(b)
				}
				cpu.Report(b)
				b.ReportMetric(float64(b.N*stepBatch)/b.Elapsed().Seconds(), "img/s")
			})
		}
	}
}

// stepProducts are the matrix products of one training step of the MNIST
// network at batch 100, as plain float32 gemm calls on preallocated
// buffers: the raw arithmetic of a step, without graph, device semantics,
// noise, activations or optimiser. Forward: the conv patches (2500 x 100)
// times the kernel (100 x 20), dense1 (100 x 500 times 500 x 128) and
// dense2 (100 x 128 times 128 x 10); backward: both weight gradients of
// every layer and the input gradients of the two dense layers (the conv's
// input needs none).
type stepProducts struct {
	mul  func(transA bool, m, n, k int, a, b, c []float32)
	bufs map[string][]float32
}

func newStepProducts(mul func(transA bool, m, n, k int, a, b, c []float32)) *stepProducts {
	rng := rand.New(rand.NewPCG(1, 2))
	p := &stepProducts{mul: mul, bufs: map[string][]float32{}}
	for name, n := range map[string]int{
		"cols": 2500 * 100, "w0": 100 * 20, "y0": 2500 * 20,
		"x1": 100 * 500, "w1": 500 * 128, "y1": 100 * 128,
		"x2": 100 * 128, "w2": 128 * 10, "y2": 100 * 10,
		"gw0": 100 * 20, "gw1": 500 * 128, "gw2": 128 * 10, "gx1": 100 * 500, "gx2": 100 * 128,
		"w1t": 128 * 500, "w2t": 10 * 128,
	} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.IntN(32))
		}
		p.bufs[name] = v
	}
	return p
}

func (p *stepProducts) run() {
	f := p.bufs
	p.mul(false, 2500, 20, 100, f["cols"], f["w0"], f["y0"])
	p.mul(false, 100, 128, 500, f["x1"], f["w1"], f["y1"])
	p.mul(false, 100, 10, 128, f["x2"], f["w2"], f["y2"])
	p.mul(true, 128, 10, 100, f["x2"], f["y2"], f["gw2"])
	p.mul(false, 100, 128, 10, f["y2"], f["w2t"], f["gx2"])
	p.mul(true, 500, 128, 100, f["x1"], f["y1"], f["gw1"])
	p.mul(false, 100, 500, 128, f["y1"], f["w1t"], f["gx1"])
	p.mul(true, 100, 20, 2500, f["cols"], f["y0"], f["gw0"])
}

// sgemmMul is the project's float32 gemm (the one the step uses).
func sgemmMul(transA bool, m, n, k int, a, b, c []float32) {
	lda := k
	if transA {
		lda = m
	}
	sgemm.Mul(transA, m, n, k, 1, a, lda, b, n, c, n)
}

// gonumMul is gonum's pure-Go blas32.Gemm.
func gonumMul(transA bool, m, n, k int, a, b, c []float32) {
	t, ar, ac := blas.NoTrans, m, k
	if transA {
		t, ar, ac = blas.Trans, k, m
	}
	blas32.Gemm(t, blas.NoTrans, 1, blas32.General{Rows: ar, Cols: ac, Stride: ac, Data: a},
		blas32.General{Rows: k, Cols: n, Stride: n, Data: b}, 0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}

// BenchmarkStepGemm times the products of one training step as plain
// gemm calls (img/s as if a step were nothing else), with the project's
// sgemm and with gonum's blas32.
func BenchmarkStepGemm(b *testing.B) {
	for _, c := range []struct {
		name string
		mul  func(bool, int, int, int, []float32, []float32, []float32)
	}{{"sgemm", sgemmMul}, {"gonum", gonumMul}} {
		b.Run(c.name, func(b *testing.B) {
			p := newStepProducts(c.mul)
			cpu := benchcpu.Start()
			for b.Loop() {
				p.run()
			}
			cpu.Report(b)
			b.ReportMetric(float64(b.N*stepBatch)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

// BenchmarkStepOverGemm reports the chip-mode training step as a multiple
// of its raw products (BenchmarkStepGemm's sgemm): steps and raw products
// alternate, so that both see the same load. x-gemm is the ratio of their
// wall times, cpu-x-gemm of their process CPU times.
func BenchmarkStepOverGemm(b *testing.B) {
	s := newTrainStep(b, analogmac.KindChip, false)
	p := newStepProducts(sgemmMul)
	var stepWall, gemmWall, stepCPU, gemmCPU time.Duration
	for b.Loop() {
		c0, t0 := benchcpu.Now(), time.Now()
		s.run(b)
		c1, t1 := benchcpu.Now(), time.Now()
		p.run()
		c2, t2 := benchcpu.Now(), time.Now()
		stepWall += t1.Sub(t0)
		gemmWall += t2.Sub(t1)
		stepCPU += c1 - c0
		gemmCPU += c2 - c1
	}
	b.ReportMetric(float64(stepWall)/float64(gemmWall), "x-gemm")
	if gemmCPU > 0 {
		b.ReportMetric(float64(stepCPU)/float64(gemmCPU), "cpu-x-gemm")
	}
	b.ReportMetric(float64(b.N*stepBatch)/stepWall.Seconds(), "step-img/s")
	b.ReportMetric(float64(b.N*stepBatch)/gemmWall.Seconds(), "gemm-img/s")
}

// BenchmarkEval evaluates 10,000 MNIST-like images on the chip at the
// default run's evaluation batch (500), as a trial of the default run does
// (fill, run, predict), on one graph.
func BenchmarkEval(b *testing.B) {
	net, err := New(BSS2MNISTName, mnistInput, 10)
	if err != nil {
		b.Fatal(err)
	}
	net.Init(1)
	chip, err := analogmac.NewDevice(analogmac.KindChip, 1)
	if err != nil {
		b.Fatal(err)
	}
	gr, err := net.NewGraph(GraphOptions{Batch: 500, On: chip})
	if err != nil {
		b.Fatal(err)
	}
	defer gr.Close()
	set := syntheticSet(10000)
	b.ReportAllocs()
	cpu := benchcpu.Start()
	for b.Loop() {
		if _, err := gr.Correct(ctx, set, analogmac.NewNoiseKeys(1), nil); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
	b.ReportMetric(float64(b.N*set.N)/b.Elapsed().Seconds(), "img/s")
}

// syntheticSet is n MNIST-shaped images with a fifth of the pixels lit.
func syntheticSet(n int) *datasets.Set {
	rng := rand.New(rand.NewPCG(3, 3))
	s := &datasets.Set{N: n, Height: 28, Width: 28, Channels: 1, Classes: 10,
		Samples: make([]uint8, n*784), Labels: make([]uint8, n)}
	for i := range s.Samples {
		if rng.IntN(5) == 0 {
			s.Samples[i] = uint8(128 + rng.IntN(128))
		}
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(rng.IntN(10))
	}
	return s
}
