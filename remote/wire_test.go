package remote_test

import (
	"context"
	"os"
	"testing"

	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/catalog"
	"github.com/analogloop/analogloop/datasets/datasetstest"
	"github.com/analogloop/analogloop/datasets/mnist/mnisttest"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/remote"
	"github.com/analogloop/analogloop/train"
)

// TestWireBytesPerTrainingStep measures what one in-the-loop training step
// of the MNIST network (batch 100, the reference configuration) puts on
// the wire, against the naive protocol that sends the weights with every
// batch, from the same float-trained network over the same steps. With
// MNIST_DIR set it trains on MNIST (the figures in docs/remote.md), else
// on synthetic digits. Run it with -v to see the figures.
func TestWireBytesPerTrainingStep(t *testing.T) {
	ctx := context.Background()
	var set *datasets.Set
	if os.Getenv("MNIST_DIR") != "" {
		d, err := catalog.Open(ctx, "mnist", catalog.Options{Dir: mnisttest.Dir(t), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		set = d.Train
	} else {
		set = datasetstest.Digits(6000, 1)
	}
	cfg := train.DefaultConfig()
	net, err := models.Build(cfg.Model, models.Input{Height: 28, Width: 28, Channels: 1}, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(1)
	// One float epoch on 6000 images: a network as in-the-loop training
	// finds it, whose weights move a little per step.
	fl, err := net.NewGraph(models.GraphOptions{Batch: cfg.Batch, Train: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Epoch(ctx, fl, layers.NewAdam(cfg.LR), train.EpochOptions{Set: set.Head(6000), Seed: 1, Stream: "float", Partial: &train.Partial{}}); err != nil {
		t.Fatal(err)
	}
	fl.Close()

	srv := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 1)})
	const steps = 30
	measure := func(o remote.Options) (first, perStep remote.Stats) {
		n, err := net.Clone()
		if err != nil {
			t.Fatal(err)
		}
		o.Addr = srv.Addr
		d := dial(t, o)
		defer d.Close()
		gr, err := n.NewGraph(models.GraphOptions{Batch: cfg.Batch, Train: true, On: d})
		if err != nil {
			t.Fatal(err)
		}
		defer gr.Close()
		adam := layers.NewAdam(cfg.HILLR)
		start := d.Stats()
		// The first step programs the three layers; the next ones update.
		if _, err := train.Epoch(ctx, gr, adam, train.EpochOptions{Set: set.Head(cfg.Batch), Seed: 1, Stream: "hil", Partial: &train.Partial{}}); err != nil {
			t.Fatal(err)
		}
		after1 := d.Stats()
		if _, err := train.Epoch(ctx, gr, adam, train.EpochOptions{Set: set.Head(steps * cfg.Batch), Seed: 1, Stream: "hil", Epoch: 1, Partial: &train.Partial{}}); err != nil {
			t.Fatal(err)
		}
		end := d.Stats()
		return diff(after1, start, 1), diff(end, after1, steps)
	}
	f, s := measure(remote.Options{})
	_, cs := measure(remote.Options{NoChain: true})
	_, ps := measure(remote.Options{NoStream: true, NoSparse: true, NoChain: true})
	nf, ns := measure(remote.Options{Naive: true, NoStream: true, NoSparse: true, NoChain: true})
	t.Logf("first step (programs the layers): %d bytes sent, %d received", f.BytesSent, f.BytesReceived)
	t.Logf("per step, programs, sparse updates, a chain of runs on a run stream, sparse inputs: %d bytes sent (%d in weight messages), %d received, %d updates (%d sparse), %d runs in %d chains",
		s.BytesSent, s.WeightMessages, s.BytesReceived, s.Updates, s.SparseUpdates, s.Runs, s.Chains)
	t.Logf("per step, the same with one run per request (%d of %d runs with sparse inputs): %d bytes sent, %d received", cs.SparseRuns, cs.Runs, cs.BytesSent, cs.BytesReceived)
	t.Logf("per step, the same with Run calls and plain inputs: %d bytes sent (%d in weight messages), %d received", ps.BytesSent, ps.WeightMessages, ps.BytesReceived)
	t.Logf("per step, naive (weights with every batch, Run calls, plain inputs): %d bytes sent (%d in weight messages), %d received", ns.BytesSent, ns.WeightMessages, ns.BytesReceived)
	if s.Chains != 1 || s.Runs != 3 || s.BytesSent >= cs.BytesSent {
		t.Errorf("with chains a step made %d requests of %d runs and sent %d bytes (%d without): want 1 chain of the 3 runs, fewer bytes", s.Chains, s.Runs, s.BytesSent, cs.BytesSent)
	}
	if wirecodec.SparseFast() && s.BytesSent >= ps.BytesSent*3/4 {
		t.Errorf("sparse inputs send %d bytes per step against %d plain: they should save a quarter at least", s.BytesSent, ps.BytesSent)
	}
	t.Logf("naive first step: %d bytes sent", nf.BytesSent)
	// The weights of the three layers are 100x20 + 500x128 + 128x10 =
	// 67,280 bytes; the naive protocol sends them with every batch.
	if ns.BytesSent-s.BytesSent < 60000 {
		t.Errorf("the naive protocol sends only %d bytes more per step: the sparse updates save nothing?", ns.BytesSent-s.BytesSent)
	}
	if s.Runs != 3 || ns.Runs != 3 {
		t.Errorf("runs per step %d and %d, want 3 (three analog layers)", s.Runs, ns.Runs)
	}
}

// diff is (a - b) / n for the byte counts and the counts of calls.
func diff(a, b remote.Stats, n int64) remote.Stats {
	return remote.Stats{
		BytesSent: (a.BytesSent - b.BytesSent) / n, BytesReceived: (a.BytesReceived - b.BytesReceived) / n,
		Updates: (a.Updates - b.Updates) / n, SparseUpdates: (a.SparseUpdates - b.SparseUpdates) / n, Runs: (a.Runs - b.Runs) / n,
		Programs: (a.Programs - b.Programs) / n, WeightMessages: (a.WeightMessages - b.WeightMessages) / n,
		SparseRuns: (a.SparseRuns - b.SparseRuns) / n, Chains: (a.Chains - b.Chains) / n,
	}
}
