package train

import (
	"context"
	"slices"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// epochWeights trains a fresh network from seed 1 for one epoch on chip 1
// (with step: Epoch or EpochOn) and returns its weights and stats.
func epochWeights(t *testing.T, step func(gr *models.Graph, adam *layers.Adam, o EpochOptions) (EpochStats, error)) ([][]float32, EpochStats) {
	t.Helper()
	data := smallData()
	net, err := models.Build(models.BSS2MNIST(), models.Input{Height: 28, Width: 28, Channels: 1}, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(1)
	gr, err := net.NewGraph(models.GraphOptions{Batch: 50, Train: true, On: chip(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	st, err := step(gr, layers.NewAdam(0.03), EpochOptions{Set: data.Train, Augment: 1, Seed: 3, Stream: "s", Epoch: 0, Partial: &Partial{}})
	if err != nil {
		t.Fatal(err)
	}
	var w [][]float32
	for _, p := range net.Params() {
		w = append(w, slices.Clone(p.Data()))
	}
	return w, st
}

func equalWeights(a, b [][]float32) bool {
	return slices.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

// With a schedule that always gives the graph's own device (nil, or the
// device itself), EpochOn trains exactly as Epoch does.
func TestEpochOnEqualsEpoch(t *testing.T) {
	ctx := context.Background()
	want, wst := epochWeights(t, func(gr *models.Graph, a *layers.Adam, o EpochOptions) (EpochStats, error) {
		return Epoch(ctx, gr, a, o)
	})
	for name, s := range map[string]Schedule{
		"nil":  ScheduleFunc(func(int, int) (analogmac.Device, error) { return nil, nil }),
		"same": ScheduleFunc(func(int, int) (analogmac.Device, error) { return chip(1), nil }),
	} {
		got, gst := epochWeights(t, func(gr *models.Graph, a *layers.Adam, o EpochOptions) (EpochStats, error) {
			return EpochOn(ctx, gr, a, o, s)
		})
		if !equalWeights(got, want) || gst.Loss != wst.Loss || gst.TrainAcc != wst.TrainAcc {
			t.Errorf("schedule %s: EpochOn trained differently from Epoch (loss %v vs %v)", name, gst.Loss, wst.Loss)
		}
	}
}

// A schedule among chips trains differently from one chip, reproducibly,
// and an epoch interrupted after any batch and resumed ends as an
// uninterrupted one.
func TestEpochOnSchedule(t *testing.T) {
	ctx := context.Background()
	chips := []analogmac.Device{chip(1), chip(2), chip(3)}
	s := ScheduleFunc(func(e, k int) (analogmac.Device, error) { return chips[k%3], nil })
	on := func(gr *models.Graph, a *layers.Adam, o EpochOptions) (EpochStats, error) {
		return EpochOn(ctx, gr, a, o, s)
	}
	a, _ := epochWeights(t, on)
	b, _ := epochWeights(t, on)
	one, _ := epochWeights(t, func(gr *models.Graph, ad *layers.Adam, o EpochOptions) (EpochStats, error) {
		return Epoch(ctx, gr, ad, o)
	})
	if !equalWeights(a, b) {
		t.Fatal("the same schedule trained differently twice")
	}
	if equalWeights(a, one) {
		t.Fatal("three chips in turn trained exactly as chip 1 alone")
	}
	// Interrupt after batch 3, then continue from the partial position.
	resumed, _ := epochWeights(t, func(gr *models.Graph, ad *layers.Adam, o EpochOptions) (EpochStats, error) {
		cctx, cancel := context.WithCancel(ctx)
		stop := ScheduleFunc(func(e, k int) (analogmac.Device, error) {
			if k == 4 {
				cancel()
			}
			return s(e, k)
		})
		if _, err := EpochOn(cctx, gr, ad, o, stop); err == nil {
			t.Fatal("not interrupted")
		}
		if o.Partial.Batch != 4 {
			t.Fatalf("interrupted at batch %d, want 4", o.Partial.Batch)
		}
		return EpochOn(ctx, gr, ad, o, s)
	})
	if !equalWeights(resumed, a) {
		t.Fatal("an interrupted and resumed epoch differs from an uninterrupted one")
	}
}
