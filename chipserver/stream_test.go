package chipserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRunStream: Describe lists the feature (unless configured not to);
// runs on one stream are answered one after another exactly as Run
// answers them and counted as calls of method RunStream; the first error
// ends the stream with Run's status, INVALID_ARGUMENT naming the field.
func TestRunStream(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1), Metrics: reg})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	if r, err := c.Describe(ctx, &chipv1.DescribeRequest{}); err != nil || !slices.Contains(r.Features, chipserver.FeatureRunStream) {
		t.Fatalf("Describe: %v, %v: want feature %q", r, err, chipserver.FeatureRunStream)
	}
	s := open(t, ctx, c)
	w := []byte{1, 2, 3, 4, 5, 6}
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 3, Cols: 2, Sends: 2, Weights: w}); err != nil {
		t.Fatal(err)
	}
	st, err := c.RunStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		req := &chipv1.RunRequest{Session: s, Program: 1, Batch: 2, Inputs: []byte{1, 2, 3, byte(i), 5, 31}, NoiseKey: uint64(i)}
		want, err := c.Run(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		got, err := st.Recv()
		if err != nil {
			t.Fatalf("run %d on the stream: %v", i, err)
		}
		if !slices.Equal(got.Outputs, want.Outputs) {
			t.Errorf("run %d: stream answered %v, Run %v", i, got.Outputs, want.Outputs)
		}
	}
	if err := st.Send(&chipv1.RunRequest{Session: s, Program: 1, Batch: 1, Inputs: []byte{1, 32, 3}}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	if code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "inputs[0][1]: ") {
		t.Errorf("input 32 on the stream: %v", err)
	}
	var named bool
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) == 1 && br.FieldViolations[0].Field == "inputs[0][1]" {
			named = true
		}
	}
	if !named {
		t.Error("the stream's INVALID_ARGUMENT carries no BadRequest naming inputs[0][1]")
	}
	if _, err := st.Recv(); err == nil {
		t.Error("the stream goes on after an error")
	}
	if n := (counter(t, reg, "chipd_requests_total", "OK", "RunStream")); n != 5 {
		t.Errorf("chipd_requests_total{RunStream,OK} = %v, want 5", n)
	}
	if n := (counter(t, reg, "chipd_requests_total", "InvalidArgument", "RunStream")); n != 1 {
		t.Errorf("chipd_requests_total{RunStream,InvalidArgument} = %v, want 1", n)
	}
	if runs, _ := srv.Server.Counts(); runs != 10 {
		t.Errorf("server counted %d runs, want 10", runs)
	}

	off := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1), NoRunStream: true})
	c2, _ := client(t, off.Addr)
	if r, err := c2.Describe(ctx, &chipv1.DescribeRequest{}); err != nil || slices.Contains(r.Features, chipserver.FeatureRunStream) {
		t.Errorf("Describe with NoRunStream: %v, %v", r, err)
	}
}

// counter is the value of a counter vector's series in reg, its label
// values given in the order of the labels' names (code, method).
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if i >= len(labels) || lp.GetValue() != labels[i] {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestRunStreamAuthAndDrain: a stream without the token is refused with
// UNAUTHENTICATED and runs nothing; on Drain a run in progress on a stream
// is answered, then the stream ends with UNAVAILABLE, idle streams end
// too, and a graceful stop does not wait for the clients to close them.
func TestRunStreamAuthAndDrain(t *testing.T) {
	b := &chipservertest.Blocking{Device: chip(t, 1), Started: make(chan uint64, 1), Release: make(chan struct{})}
	srv := chipservertest.Start(t, "", chipserver.Config{Device: b, Token: "sesame"})
	c, _ := client(t, srv.Addr)
	bare := context.Background()
	ctx := withToken(bare, "sesame")
	s := open(t, ctx, c)
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 1, Cols: 1, Sends: 1, Weights: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	run := &chipv1.RunRequest{Session: s, Program: 1, Batch: 1, Inputs: []byte{1}}

	for _, tctx := range []context.Context{bare, withToken(bare, "wrong")} {
		st, err := c.RunStream(tctx)
		if err == nil {
			_ = st.Send(run)
			_, err = st.Recv()
		}
		if code(err) != codes.Unauthenticated {
			t.Errorf("stream without the right token: %v", err)
		}
	}
	if runs, _ := srv.Server.Counts(); runs != 0 {
		t.Fatalf("%d runs without the token", runs)
	}

	busy, err := c.RunStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := c.RunStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := busy.Send(run); err != nil {
		t.Fatal(err)
	}
	<-b.Started
	stopped := make(chan struct{})
	go func() {
		srv.Server.Drain()
		srv.GRPC.GracefulStop()
		close(stopped)
	}()
	time.Sleep(100 * time.Millisecond)
	close(b.Release)
	if _, err := busy.Recv(); err != nil {
		t.Errorf("the run in progress at Drain: %v", err)
	}
	if _, err := busy.Recv(); code(err) != codes.Unavailable {
		t.Errorf("the busy stream after its run: %v, want UNAVAILABLE", err)
	}
	if _, err := idle.Recv(); code(err) != codes.Unavailable {
		t.Errorf("the idle stream: %v, want UNAVAILABLE", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop waits for the run streams")
	}
	if runs, _ := srv.Server.Counts(); runs != 1 {
		t.Errorf("%d runs, want the one in progress", runs)
	}
}
