package models

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// recorder is a device that records every product it is asked for.
type recorder struct {
	analogmac.Device
	calls []string
}

func (r *recorder) Program(ctx context.Context, m analogmac.Matrix) (analogmac.Program, error) {
	p, err := r.Device.Program(ctx, m)
	return &recordedProgram{p, r}, err
}

type recordedProgram struct {
	analogmac.Program
	r *recorder
}

func (p *recordedProgram) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	m := p.Matrix()
	p.r.calls = append(p.r.calls, fmt.Sprintf("%dx%dx%d sends=%d col=%d", batch, m.Rows, m.Cols, m.Sends, m.Placement.Column))
	return p.Program.Run(ctx, dst, x, batch, noise)
}

func randomImages(gr *Graph, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range gr.Input() {
		gr.Input()[i] = float32(rng.IntN(32))
	}
}

// TestForwardRunsOnTheDevice: every product of the MNIST network, in
// evaluation and in training, goes through the device, once per layer.
func TestForwardRunsOnTheDevice(t *testing.T) {
	net, err := New(BSS2MNISTName, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(1)
	rec := &recorder{Device: analogmac.NewIdeal()}
	s := net.Analog()
	want := []string{
		fmt.Sprintf("200x100x20 sends=%d col=0", s[0].Sends),
		fmt.Sprintf("8x500x128 sends=%d col=256", s[1].Sends),
		fmt.Sprintf("8x128x10 sends=%d col=32", s[2].Sends),
	}
	for _, train := range []bool{false, true} {
		rec.calls = nil
		gr, err := net.NewGraph(GraphOptions{Batch: 8, Train: train, On: rec})
		if err != nil {
			t.Fatal(err)
		}
		defer gr.Close()
		randomImages(gr, 1)
		if err := gr.SetLabels(make([]uint8, 8)); err != nil {
			t.Fatal(err)
		}
		if err := gr.Run(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rec.calls) != fmt.Sprint(want) {
			t.Errorf("train=%v: device saw %v, want %v", train, rec.calls, want)
		}
	}
}

func logitsOn(t *testing.T, net *Network, d analogmac.Device, seed uint64) []float32 {
	t.Helper()
	gr, err := net.NewGraph(GraphOptions{Batch: 50, On: d})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	randomImages(gr, seed)
	if err := gr.Run(ctx, analogmac.NewNoiseKeys(seed)); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), gr.Logits()...)
}

func differing(a, b []float32) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestChipDeviationsReachTheOutputs: large column offsets change the
// network's outputs; a chip without deviations or noise gives Ideal's;
// the same seeds reproduce the same outputs.
func TestChipDeviationsReachTheOutputs(t *testing.T) {
	net, err := New(BSS2MNISTName, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(2)
	ideal := logitsOn(t, net, analogmac.NewIdeal(), 1)

	clean := analogmac.DefaultChipConfig()
	clean.ColumnGainStd, clean.ColumnOffsetStd, clean.SynapseMismatchStd, clean.TrialNoiseStd = 0, 0, 0, 0
	clean.LinearRange, clean.LinearRangeStd = 1000, 0
	chip, err := analogmac.NewChip(1, clean)
	if err != nil {
		t.Fatal(err)
	}
	if n := differing(ideal, logitsOn(t, net, chip, 1)); n != 0 {
		t.Fatalf("a chip without deviations differs from Ideal in %d outputs", n)
	}
	offsets := clean
	offsets.ColumnOffsetStd = 20
	chip, err = analogmac.NewChip(1, offsets)
	if err != nil {
		t.Fatal(err)
	}
	if n := differing(ideal, logitsOn(t, net, chip, 1)); n < len(ideal)/2 {
		t.Fatalf("column offsets of std 20 LSB changed only %d of %d outputs", n, len(ideal))
	}
	a, _ := analogmac.NewChip(3, analogmac.DefaultChipConfig())
	b, _ := analogmac.NewChip(3, analogmac.DefaultChipConfig())
	if n := differing(logitsOn(t, net, a, 1), logitsOn(t, net, b, 1)); n != 0 {
		t.Fatalf("same chip and noise seeds differ in %d outputs", n)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New("resnet", mnistInput, 10); err == nil {
		t.Error("unknown model accepted")
	}
	if _, err := New(BSS2MNISTName, Input{Height: 32, Width: 32, Channels: 3}, 10); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("the MNIST network on 32x32x3 data: got %v, want ErrInvalidSpec", err)
	}
	spec := BSS2MNIST()
	spec.Layers[3].Sends = -1
	if _, err := Build(spec, mnistInput, 10); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), `layer 3 (dense): field "sends"`) {
		t.Errorf("negative sends: got %v, want a SpecError naming layer 3's sends", err)
	}
}

// TestInitUsesTheADCRange: after Init, the first layer's outputs on MNIST-
// like inputs spread over a good part of the ADC range without clamping.
func TestInitUsesTheADCRange(t *testing.T) {
	net, err := New(MLPName, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(9)
	d := net.Layers[0].(*layers.Dense)
	ex := layers.NewExec(analogmac.NewIdeal(), net.GainPerSend)
	defer ex.Close()
	const batch = 64
	rng := rand.New(rand.NewPCG(4, 4))
	x := make([]float32, batch*784)
	for i := range x {
		if rng.IntN(5) == 0 { // about a fifth of MNIST's pixels are lit
			x[i] = float32(20 + rng.IntN(12))
		}
	}
	y := make([]float32, batch*d.Out)
	if err := d.NewKernel(ex).Forward(y, x, batch); err != nil {
		t.Fatal(err)
	}
	var s2 float64
	clamped := 0
	for _, v := range y {
		s2 += float64(v * v)
		if v <= -128 || v >= 127 {
			clamped++
		}
	}
	std := (s2 / float64(len(y)))
	if std < 10*10 || std > 50*50 || clamped > len(y)/100 {
		t.Fatalf("output variance %.0f (want 10^2..50^2), %d of %d clamped", std, clamped, len(y))
	}
}
