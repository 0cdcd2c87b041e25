package chipserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"google.golang.org/grpc/codes"
)

// TestChain: Describe lists the feature and the bound; a chain of three
// runs, with updates, answers what three separate runs answer, by Run
// and on a stream; and every wrong field of a chained run is refused,
// named, before anything runs.
func TestChain(t *testing.T) {
	dev := chip(t, 2)
	srv := chipservertest.Start(t, "", chipserver.Config{Device: dev, MaxMessageBytes: 1 << 16})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	r, err := c.Describe(ctx, &chipv1.DescribeRequest{})
	if err != nil || !slices.Contains(r.Features, chipserver.FeatureChain) || r.Limits.MaxChain != chipserver.MaxChain {
		t.Fatalf("Describe: %v, %v: want feature %q and max_chain %d", r, err, chipserver.FeatureChain, chipserver.MaxChain)
	}
	s := open(t, ctx, c)
	// A convolution's 20 outputs per patch, 25 patches per sample, feed
	// a 500-input layer: the MNIST network's shapes, smaller batch.
	shapes := []struct{ rows, cols, sends int }{{100, 20, 7}, {500, 64, 3}, {64, 10, 6}}
	const batch = 4
	for i, sh := range shapes {
		w := make([]byte, sh.rows*sh.cols)
		for j := range w {
			w[j] = byte(int8((j*7+i*13)%61 - 30))
		}
		if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: uint64(i + 1), Rows: uint32(sh.rows), Cols: uint32(sh.cols), Sends: uint32(sh.sends),
			Placement: &chipv1.Placement{Column: uint32(128 * i)}, Weights: w, Version: 1}); err != nil {
			t.Fatal(err)
		}
	}
	x := make([]byte, 25*batch*100)
	for i := range x {
		if i%5 < 3 {
			x[i] = byte((i * 11) % 32)
		}
	}
	upd := func(v uint64, idx uint32, val byte) *chipv1.UpdateRequest {
		return &chipv1.UpdateRequest{BaseVersion: v - 1, Version: v, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{idx}, Values: []byte{val}}}}
	}
	// Three separate runs, the second and third with an update, the
	// conversions made here.
	var want [][]byte
	in, batches, shifts := x, []uint32{25 * batch, batch, batch}, []int{0, 1, 2}
	for i := range shapes {
		req := &chipv1.RunRequest{Session: s, Program: uint64(i + 1), Version: 1, Batch: batches[i], Inputs: in, NoiseKey: uint64(40 + i)}
		if i > 0 {
			req.Update, req.Version = upd(2, uint32(5*i), 0x1f), 2
		}
		y, err := c.Run(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, y.Outputs)
		if i+1 < len(shapes) {
			in = make([]byte, len(y.Outputs))
			analogmac.ConvertReLU(in, int8s(y.Outputs), shifts[i+1])
		}
	}
	// The same as one chain, after another update of the same weights.
	chain := func(version uint64) *chipv1.RunRequest {
		return &chipv1.RunRequest{Session: s, Program: 1, Version: 1, Batch: 25 * batch, Inputs: x, NoiseKey: 40,
			Then: []*chipv1.ChainedRun{
				{Program: 2, Version: version, Batch: batch, NoiseKey: 41, ReluShift: 1, Update: upd(version, 5, 0x1f)},
				{Program: 3, Version: version, Batch: batch, NoiseKey: 42, ReluShift: 2, Update: upd(version, 10, 0x1f)},
			}}
	}
	// Version 3 and on set the same weights as version 2: the chains run
	// on what the separate runs saw.
	same := func(got *chipv1.RunResponse, what string) {
		t.Helper()
		if len(got.ThenOutputs) != 2 || !slices.Equal(got.Outputs, want[0]) || !slices.Equal(got.ThenOutputs[0], want[1]) || !slices.Equal(got.ThenOutputs[1], want[2]) {
			t.Fatalf("%s: the chain's outputs differ from separate runs' (%d chained outputs)", what, len(got.ThenOutputs))
		}
	}
	before := dev.Counts()
	got, err := c.Run(ctx, chain(3))
	if err != nil {
		t.Fatal(err)
	}
	same(got, "Run")
	if n := dev.Counts(); n.Runs-before.Runs != 3 || n.Updates-before.Updates != 2 {
		t.Errorf("the chain made %d runs and %d updates, want 3 and 2", n.Runs-before.Runs, n.Updates-before.Updates)
	}
	st, err := c.RunStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(chain(4)); err != nil {
		t.Fatal(err)
	}
	if got, err = st.Recv(); err != nil {
		t.Fatal(err)
	}
	same(got, "RunStream")
	st.CloseSend()

	// Wrong chained runs: nothing runs, the field is named.
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 4, Rows: 2, Cols: 4000, Sends: 1, Weights: make([]byte, 8000), Version: 1}); err != nil {
		t.Fatal(err)
	}
	before = dev.Counts()
	for _, c2 := range []struct {
		field string
		code  codes.Code
		spoil func(r *chipv1.RunRequest)
	}{
		{"then[0].batch", codes.InvalidArgument, func(r *chipv1.RunRequest) { r.Then[0].Batch = batch + 1 }},
		{"then[1].batch", codes.InvalidArgument, func(r *chipv1.RunRequest) { r.Then[1].Batch = 0 }},
		{"then[0].relu_shift", codes.InvalidArgument, func(r *chipv1.RunRequest) { r.Then[0].ReluShift = 8 }},
		{"then[1].version", codes.InvalidArgument, func(r *chipv1.RunRequest) { r.Then[1].Version = 9 }},
		{"then[0].update.changes", codes.InvalidArgument, func(r *chipv1.RunRequest) {
			r.Then[0].Update.GetChanges().Gaps = []uint32{1 << 20}
		}},
		{"then", codes.InvalidArgument, func(r *chipv1.RunRequest) {
			for len(r.Then) < chipserver.MaxChain {
				r.Then = append(r.Then, r.Then[len(r.Then)-1])
			}
		}},
		{"program 7", codes.NotFound, func(r *chipv1.RunRequest) { r.Then[1].Program = 7 }},
		// Program 4 (2 x 4000): 10 vectors give 40 KB of outputs, which
		// fit the 64 KiB messages; chained, as 20,000 vectors of 2
		// inputs, they would give 80 MB.
		{"then[0].batch", codes.InvalidArgument, func(r *chipv1.RunRequest) {
			r.Program, r.Batch, r.Inputs = 4, 10, make([]byte, 20)
			r.Then = []*chipv1.ChainedRun{{Program: 4, Version: 1, Batch: 20000}}
		}},
	} {
		req := chain(5)
		c2.spoil(req)
		_, err := c.Run(ctx, req)
		if code(err) != c2.code || !strings.Contains(err.Error(), c2.field) {
			t.Errorf("%s spoilt: %v, want %s naming it", c2.field, err, c2.code)
		}
	}
	if n := dev.Counts(); n.Runs != before.Runs || n.Updates != before.Updates {
		t.Errorf("refused chains made %d runs and %d updates", n.Runs-before.Runs, n.Updates-before.Updates)
	}
}

func int8s(b []byte) []int8 {
	y := make([]int8, len(b))
	for i, v := range b {
		y[i] = int8(v)
	}
	return y
}
