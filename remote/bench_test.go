package remote_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/datasets/datasetstest"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/train"
)

// The loopback benchmarks of docs/remote.md:
//
//	go test ./remote -run '^$' -bench 'Loopback|HIL' -benchtime 3s -count 3
//
// Server and clients share the machine's processors, as they do when
// chipd and trainers run as processes on one host. With BENCH_CHIPD=ADDR
// the remote training benchmark and BenchmarkRoundTrip use the chipd at
// ADDR (serving chip 1) instead of a server in the benchmark's process;
// BENCH_PLAIN=1 makes the client use Run calls, plain inputs and one run
// per request even when the server offers run streams, sparse inputs and
// chains; BENCH_PLAIN=inputs plain inputs and one run per request on run
// streams; BENCH_PLAIN=chain one run per request (remoteOpts).

// mnistLayers are the three analog layers of the MNIST network as one
// forward pass of a batch of 100 images runs them: the convolution's 25
// patches per image, then the two dense layers.
var mnistLayers = []struct{ batch, rows, cols, sends int }{
	{2500, 100, 20, 7}, {100, 500, 128, 3}, {100, 128, 10, 6},
}

type forward struct {
	progs []analogmac.Program
	xs    [][]uint8
	ys    [][]int8
}

func newForward(b *testing.B, d analogmac.Device, seed uint64) *forward {
	r := rand.New(rand.NewPCG(seed, 1))
	f := &forward{}
	for i, l := range mnistLayers {
		p, err := d.Program(context.Background(), randMatrix(r, l.rows, l.cols, l.sends, analogmac.Placement{Column: 128 * i}))
		if err != nil {
			b.Fatal(err)
		}
		f.progs = append(f.progs, p)
		f.xs = append(f.xs, randInputs(r, l.batch*l.rows))
		f.ys = append(f.ys, make([]int8, l.batch*l.cols))
	}
	return f
}

func (f *forward) run(b *testing.B, key uint64) {
	for i, l := range mnistLayers {
		if err := f.progs[i].Run(context.Background(), f.ys[i], f.xs[i], l.batch, key+uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoopbackForward: 1, 2, 4 and 8 clients, each with its own
// connection and session, run the MNIST network's forward pass (3 calls,
// 100 images) against one server of chip 1 as fast as they can. Reported:
// images/s over all clients, and the p50 and p99 latency of one forward
// pass. "local" is the same forward pass on the chip in process.
func BenchmarkLoopbackForward(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		f := newForward(b, device(b, "chip", 1), 1)
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			f.run(b, uint64(i))
		}
		b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "img/s")
	})
	for _, clients := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			srv := chipservertest.Start(b, "", chipserver.Config{Device: device(b, "chip", 1)})
			fs := make([]*forward, clients)
			for c := range clients {
				fs[c] = newForward(b, dial(b, remoteOpts(srv.Addr)), uint64(c))
			}
			lat := make([][]time.Duration, clients)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() {
					// b.N forward passes in all, shared among the clients.
					for i := c; i < b.N; i += clients {
						t0 := time.Now()
						fs[c].run(b, uint64(i))
						lat[c] = append(lat[c], time.Since(t0))
					}
				})
			}
			wg.Wait()
			el := time.Since(start)
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(b.N*100)/el.Seconds(), "img/s")
			b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
			b.ReportMetric(ms(all[min(len(all)-1, len(all)*99/100)]), "p99-ms")
		})
	}
}

// benchServer is the address of the chipd at BENCH_CHIPD, or else of a
// server of the device kind and chip started in the benchmark's process.
func benchServer(b *testing.B, kind string, chip uint64) string {
	if addr := os.Getenv("BENCH_CHIPD"); addr != "" {
		return addr
	}
	return chipservertest.Start(b, "", chipserver.Config{Device: device(b, kind, chip)}).Addr
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// BenchmarkHILTraining: in-the-loop training of the MNIST network (batch
// 100, synthetic digits) on chip 1 in process and through a server on
// loopback, img/s of training steps as results.json's train_hil. Every
// iteration trains one epoch of 20 steps on each, alternately, so that the
// load of a shared machine weighs on both alike; remote/local is the
// ratio of their img/s.
func BenchmarkHILTraining(b *testing.B) {
	set := datasetstest.Digits(2000, 1)
	cfg := train.DefaultConfig()
	addr := benchServer(b, "chip", 1)
	type trainer struct {
		gr   *models.Graph
		adam *layers.Adam
		took time.Duration
	}
	var ts [2]*trainer // local, remote
	for i, dev := range []analogmac.Device{device(b, "chip", 1), dial(b, remoteOpts(addr))} {
		net, err := models.Build(cfg.Model, models.Input{Height: 28, Width: 28, Channels: 1}, 10)
		if err != nil {
			b.Fatal(err)
		}
		net.Init(1)
		gr, err := net.NewGraph(models.GraphOptions{Batch: cfg.Batch, Train: true, On: dev})
		if err != nil {
			b.Fatal(err)
		}
		defer gr.Close()
		ts[i] = &trainer{gr: gr, adam: layers.NewAdam(cfg.HILLR)}
	}
	b.ResetTimer()
	for i := range b.N {
		for _, t := range ts {
			start := time.Now()
			if _, err := train.Epoch(context.Background(), t.gr, t.adam, train.EpochOptions{Set: set, Seed: 1, Stream: "hil", Epoch: i, Partial: &train.Partial{}}); err != nil {
				b.Fatal(err)
			}
			t.took += time.Since(start)
		}
	}
	local := float64(b.N*set.N) / ts[0].took.Seconds()
	rem := float64(b.N*set.N) / ts[1].took.Seconds()
	b.ReportMetric(local, "local-img/s")
	b.ReportMetric(rem, "remote-img/s")
	b.ReportMetric(rem/local, "remote/local")
}
