package remote_test

import (
	"context"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// BenchmarkRoundTrip: the smallest run (1 x 1, batch 1) through a server
// on loopback: the fixed cost of one call. With BENCH_CHIPD=ADDR it goes to
// the chipd at ADDR instead of a server in the benchmark's process.
func BenchmarkRoundTrip(b *testing.B) {
	d := dial(b, remoteOpts(benchServer(b, "ideal", 0)))
	p, err := d.Program(context.Background(), analogmac.Matrix{Rows: 1, Cols: 1, Weights: []int8{1}, Sends: 1})
	if err != nil {
		b.Fatal(err)
	}
	dst, x := make([]int8, 1), []uint8{1}
	b.ResetTimer()
	for i := range b.N {
		if err := p.Run(context.Background(), dst, x, 1, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}
