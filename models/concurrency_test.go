package models

import (
	"slices"
	"sync"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// TestTwoGraphsTwoDevicesConcurrently: two graphs of one network, each on
// its own chip, run on two goroutines at once and give exactly what they
// give alone (run under -race: the layers hold no per-run state).
func TestTwoGraphsTwoDevicesConcurrently(t *testing.T) {
	net, err := New(BSS2MNISTName, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(5)
	var graphs [2]*Graph
	for i := range graphs {
		chip, err := analogmac.NewDevice(analogmac.KindChip, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if graphs[i], err = net.NewGraph(GraphOptions{Batch: 20, On: chip}); err != nil {
			t.Fatal(err)
		}
		defer graphs[i].Close()
		randomImages(graphs[i], 3)
	}
	const runs = 4
	alone := func(g *Graph) [][]float32 {
		keys := analogmac.NewNoiseKeys(9)
		var out [][]float32
		for range runs {
			if err := g.Run(ctx, keys); err != nil {
				t.Error(err)
				return nil
			}
			out = append(out, slices.Clone(g.Logits()))
		}
		return out
	}
	var want [2][][]float32
	for i, g := range graphs {
		want[i] = alone(g)
	}
	if slices.Equal(want[0][0], want[1][0]) {
		t.Fatal("chips 1 and 2 gave the same logits: the device did not reach the graph")
	}
	var got [2][][]float32
	var wg sync.WaitGroup
	for i, g := range graphs {
		wg.Go(func() { got[i] = alone(g) })
	}
	wg.Wait()
	for i := range graphs {
		for r := range runs {
			if !slices.Equal(got[i][r], want[i][r]) {
				t.Fatalf("graph %d run %d: concurrent logits differ from serial ones", i, r)
			}
		}
	}
}
