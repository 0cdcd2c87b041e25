package models

import (
	"runtime"
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

// TestRunOnMovesAmongDevices: a graph run on chip 2 for one batch and on
// its own chip 1 for the next gives exactly what graphs compiled for each
// chip give, and the graph's own device is untouched afterwards.
func TestRunOnMovesAmongDevices(t *testing.T) {
	net, err := New(BSS2MNISTName, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(6)
	chips := make([]analogmac.Device, 3)
	for i := range chips {
		if chips[i], err = analogmac.NewDevice(analogmac.KindChip, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	logits := func(g *Graph, d analogmac.Device) []float32 {
		t.Helper()
		randomImages(g, 2)
		var err error
		if d == nil {
			err = g.Run(ctx, analogmac.NewNoiseKeys(4))
		} else {
			err = g.RunOn(ctx, d, analogmac.NewNoiseKeys(4))
		}
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(g.Logits())
	}
	want := make([][]float32, len(chips))
	for i, c := range chips {
		g, err := net.NewGraph(GraphOptions{Batch: 10, On: c})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = logits(g, nil)
		g.Close()
	}
	g, err := net.NewGraph(GraphOptions{Batch: 10, On: chips[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, i := range []int{1, 0, 2, 2, 0} {
		if got := logits(g, chips[i]); !slices.Equal(got, want[i]) {
			t.Fatalf("RunOn chip %d differs from a graph compiled for it", i+1)
		}
	}
	if got := logits(g, nil); !slices.Equal(got, want[0]) {
		t.Fatal("after RunOn the graph no longer runs on its own chip")
	}
	if err := g.RunOn(ctx, nil, nil); err == nil {
		t.Fatal("RunOn(nil) on a device graph accepted")
	}
}

// TestClosedGraphsAreFreed: graphs made and closed in a loop (an
// evaluation per trial, per chip) do not pile up in memory, on Gorgonia's
// machine as on the runner.
func TestClosedGraphsAreFreed(t *testing.T) {
	net, err := New(BSS2MNISTName, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, gorgonia := range []bool{false, true} {
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		before := heap()
		for range 20 {
			g, err := net.NewGraph(GraphOptions{Batch: 500, On: analogmac.NewIdeal(), Gorgonia: gorgonia})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Run(ctx, nil); err != nil {
				t.Fatal(err)
			}
			g.Close()
		}
		// One graph of batch 500 holds about 10 MB of buffers: twenty kept
		// alive would be 200 MB.
		if grown := int64(heap()) - int64(before); grown > 40<<20 {
			t.Errorf("gorgonia=%v: heap grew by %d MB over 20 closed graphs", gorgonia, grown>>20)
		}
	}
}
