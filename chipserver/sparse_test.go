package chipserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSparseInputs: Describe lists the feature (unless configured not
// to); a run with sparse inputs is answered exactly as the same run with
// plain inputs, by Run and on a stream; a malformed form, one sent beside
// plain inputs, and one whose length cannot hold the batch are refused
// naming sparse_inputs, and a decoded input out of range is named as a
// plain one would be.
func TestSparseInputs(t *testing.T) {
	srv := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1)})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	if r, err := c.Describe(ctx, &chipv1.DescribeRequest{}); err != nil || !slices.Contains(r.Features, chipserver.FeatureSparseInputs) {
		t.Fatalf("Describe: %v, %v: want feature %q", r, err, chipserver.FeatureSparseInputs)
	}
	s := open(t, ctx, c)
	const rows, cols, batch = 100, 20, 30
	w := make([]byte, rows*cols)
	for i := range w {
		w[i] = byte(int8(i%41 - 20))
	}
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: rows, Cols: cols, Sends: 3, Weights: w}); err != nil {
		t.Fatal(err)
	}
	x := make([]byte, batch*rows)
	for i := range x {
		if i%7 < 2 {
			x[i] = byte(i % 32)
		}
	}
	sparse := wirecodec.AppendSparse(nil, x)
	if len(sparse) >= len(x) {
		t.Fatalf("the sparse form takes %d bytes for %d inputs", len(sparse), len(x))
	}
	plain, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Batch: batch, Inputs: x, NoiseKey: 5})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Batch: batch, SparseInputs: sparse, NoiseKey: 5})
	if err != nil || !slices.Equal(got.Outputs, plain.Outputs) {
		t.Fatalf("sparse run: %v (outputs equal: %v)", err, err == nil && slices.Equal(got.Outputs, plain.Outputs))
	}
	st, err := c.RunStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&chipv1.RunRequest{Session: s, Program: 1, Batch: batch, SparseInputs: sparse, NoiseKey: 5}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Recv(); err != nil || !slices.Equal(got.Outputs, plain.Outputs) {
		t.Fatalf("sparse run on a stream: %v", err)
	}
	st.CloseSend()

	bad := slices.Clone(x)
	bad[2*rows+9] = 32
	for _, c2 := range []struct {
		name  string
		req   *chipv1.RunRequest
		field string
	}{
		{"cut short", &chipv1.RunRequest{Batch: batch, SparseInputs: sparse[:len(sparse)-1]}, "sparse_inputs"},
		{"a byte too many", &chipv1.RunRequest{Batch: batch, SparseInputs: append(slices.Clone(sparse), 0)}, "sparse_inputs"},
		{"beside plain inputs", &chipv1.RunRequest{Batch: batch, Inputs: x, SparseInputs: sparse}, "sparse_inputs"},
		{"too short for the batch", &chipv1.RunRequest{Batch: 60000, SparseInputs: sparse}, "sparse_inputs"},
		{"input 32", &chipv1.RunRequest{Batch: batch, SparseInputs: wirecodec.AppendSparse(nil, bad)}, "inputs[2][9]"},
	} {
		c2.req.Session, c2.req.Program = s, 1
		_, err := c.Run(ctx, c2.req)
		if code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), c2.field+": ") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming %s", c2.name, err, c2.field)
		}
	}

	off := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1), NoSparseInputs: true})
	c3, _ := client(t, off.Addr)
	if r, err := c3.Describe(ctx, &chipv1.DescribeRequest{}); err != nil || slices.Contains(r.Features, chipserver.FeatureSparseInputs) {
		t.Errorf("Describe with NoSparseInputs: %v, %v", r, err)
	}
}
