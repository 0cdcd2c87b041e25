package remote_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"github.com/analogloop/analogloop/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRunStreams: against a server that offers RunStream the runs go on
// streams, one per run in flight, kept between runs, and their inputs in
// sparse form when the server takes it (and this processor encodes it
// fast); with NoStream and NoSparse, or against a server that lists
// neither feature (as the Python example server), they are Run calls with
// plain inputs. Either way every output, from 8 goroutines running at
// once, equals the local device's, and an invalid input is refused naming
// it without spoiling the runs after it.
func TestRunStreams(t *testing.T) {
	ctx := context.Background()
	local := device(t, "chip", 4)
	on := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 4)})
	off := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 4), NoRunStream: true, NoSparseInputs: true})
	r := rand.New(rand.NewPCG(4, 4))
	m := randMatrix(r, 150, 20, 3, analogmac.Placement{})
	lp, err := local.Program(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, runs, batch = 8, 10, 3
	xs := make([][]uint8, goroutines*runs)
	want := make([][]int8, len(xs))
	for i := range xs {
		xs[i] = randInputs(r, batch*m.Rows)
		want[i] = make([]int8, batch*m.Cols)
		if err := lp.Run(ctx, want[i], xs[i], batch, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	fast := wirecodec.SparseFast()
	for _, c := range []struct {
		name            string
		o               remote.Options
		streams, sparse bool
	}{
		{"streams", remote.Options{Addr: on.Addr}, true, fast},
		{"NoStream", remote.Options{Addr: on.Addr, NoStream: true}, false, fast},
		{"NoSparse", remote.Options{Addr: on.Addr, NoSparse: true}, true, false},
		{"server without either", remote.Options{Addr: off.Addr}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := dial(t, c.o)
			p, err := d.Program(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					got := make([]int8, batch*m.Cols)
					for i := g; i < len(xs); i += goroutines {
						if err := p.Run(ctx, got, xs[i], batch, uint64(i)); err != nil {
							t.Error(err)
							return
						}
						if !slices.Equal(got, want[i]) {
							t.Errorf("run %d differs from the local device's", i)
						}
					}
				})
			}
			wg.Wait()
			bad := slices.Clone(xs[0])
			bad[m.Rows+7] = 32
			var ae *analogmac.ArgError
			got := make([]int8, batch*m.Cols)
			if err := p.Run(ctx, got, bad, batch, 0); !errors.As(err, &ae) || ae.Field != "inputs[1][7]" {
				t.Errorf("input 32: %v", err)
			}
			if err := p.Run(ctx, got, xs[0], batch, 0); err != nil || !slices.Equal(got, want[0]) {
				t.Errorf("the run after a refused one: %v", err)
			}
			st := d.Stats()
			if st.Runs != goroutines*runs+1 {
				t.Errorf("%d runs counted, want %d", st.Runs, goroutines*runs+1)
			}
			switch {
			case c.streams && (st.Streams < 2 || st.Streams > goroutines+1):
				// 8 in flight at most, plus the one the refusal ended.
				t.Errorf("%d streams for %d goroutines: want 2..%d", st.Streams, goroutines, goroutines+1)
			case !c.streams && st.Streams != 0:
				t.Errorf("%d streams opened, want Run calls", st.Streams)
			}
			switch {
			case c.sparse && st.SparseRuns != st.Runs:
				t.Errorf("%d of %d runs with sparse inputs, want all", st.SparseRuns, st.Runs)
			case !c.sparse && st.SparseRuns != 0:
				t.Errorf("%d runs with sparse inputs, want none", st.SparseRuns)
			}
		})
	}
}

// TestRunStreamDeadline: a run on a stream that the server does not answer
// within the call's deadline is abandoned (its stream cancelled) and
// retried until the wait is over, then fails as unavailable; the caller's
// cancellation ends it at once; once the server answers again, runs go on
// new streams.
func TestRunStreamDeadline(t *testing.T) {
	ctx := context.Background()
	s := &chipservertest.Blocking{Device: device(t, "ideal", 0), Release: make(chan struct{})}
	srv := chipservertest.Start(t, "", chipserver.Config{Device: s})
	d := dial(t, remote.Options{Addr: srv.Addr, CallTimeout: 100 * time.Millisecond, Wait: 400 * time.Millisecond})
	p, err := d.Program(ctx, analogmac.Matrix{Rows: 1, Cols: 1, Sends: 1, Weights: []int8{2}})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]int8, 1)
	start := time.Now()
	err = p.Run(ctx, dst, []uint8{3}, 1, 0)
	if !errors.Is(err, analogmac.ErrUnavailable) || !strings.Contains(err.Error(), "DeadlineExceeded") {
		t.Errorf("unanswered run: %v, want ErrUnavailable after DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the unanswered run took %s", el)
	}
	if st := d.Stats(); st.Retries == 0 || st.Streams < 2 {
		t.Errorf("stats %+v: want retries, each on a new stream", st)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	if err := p.Run(cctx, dst, []uint8{3}, 1, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
	close(s.Release)
	before := d.Stats().Streams
	lp, _ := device(t, "ideal", 0).Program(ctx, analogmac.Matrix{Rows: 1, Cols: 1, Sends: 1, Weights: []int8{2}})
	want := make([]int8, 1)
	if err := lp.Run(ctx, want, []uint8{3}, 1, 0); err != nil {
		t.Fatal(err)
	}
	dst[0] = 99
	if err := p.Run(ctx, dst, []uint8{3}, 1, 0); err != nil || dst[0] != want[0] {
		t.Errorf("run once the server answers: %v, %v; want %v", dst, err, want)
	}
	if d.Stats().Streams != before+1 {
		t.Error("the run after abandoned ones did not open a new stream")
	}
}

// noStreams is a server that lists run_stream but answers RunStream with
// UNIMPLEMENTED, as a server whose description and code disagree would.
type noStreams struct{ *chipserver.Server }

func (noStreams) RunStream(chipv1.Chip_RunStreamServer) error {
	return status.Error(codes.Unimplemented, "no RunStream here")
}

// TestRunStreamUnimplemented: a client told of run streams that are not
// there uses Run from then on, with the same outputs.
func TestRunStreamUnimplemented(t *testing.T) {
	ctx := context.Background()
	s, err := chipserver.New(chipserver.Config{Device: device(t, "chip", 5), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := grpc.NewServer(s.ServerOptions()...)
	chipv1.RegisterChipServer(g, noStreams{s})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()
	d := dial(t, remote.Options{Addr: lis.Addr().String()})
	m := randMatrix(rand.New(rand.NewPCG(5, 5)), 40, 7, 2, analogmac.Placement{})
	lp, _ := device(t, "chip", 5).Program(ctx, m)
	rp, err := d.Program(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	x := randInputs(rand.New(rand.NewPCG(6, 6)), 2*40)
	for key := range uint64(3) {
		want, got := make([]int8, 2*7), make([]int8, 2*7)
		lp.Run(ctx, want, x, 2, key)
		if err := rp.Run(ctx, got, x, 2, key); err != nil || !slices.Equal(got, want) {
			t.Fatalf("run %d: %v (equal: %v)", key, err, slices.Equal(got, want))
		}
	}
	if st := d.Stats(); st.Runs != 3 || st.Streams != 1 || st.Retries != 0 {
		t.Errorf("stats %+v: want 3 runs after one stream was refused, no retries", st)
	}
}

// plainOnly serves the plain protocol only, as the Python example server
// does: it lists no features and refuses sparse inputs (its inputs are
// then empty).
type plainOnly struct{ *chipserver.Server }

func (p plainOnly) Run(ctx context.Context, req *chipv1.RunRequest) (*chipv1.RunResponse, error) {
	if len(req.SparseInputs) > 0 {
		return nil, status.Error(codes.InvalidArgument, "inputs: hold 0 values")
	}
	return p.Server.Run(ctx, req)
}

// TestRestartAsPlainServer: a chipd that restarts as a server of the same
// device without the optional features gets plain inputs on Run calls from
// the run that found it on: the client asks what the server offers when it
// reconnects, and builds each request anew.
func TestRestartAsPlainServer(t *testing.T) {
	ctx := context.Background()
	a := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 6)})
	d := dial(t, remote.Options{Addr: a.Addr})
	r := rand.New(rand.NewPCG(6, 7))
	m := randMatrix(r, 300, 9, 2, analogmac.Placement{})
	lp, _ := device(t, "chip", 6).Program(ctx, m)
	rp, err := d.Program(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		x := randInputs(r, 4*300)
		want, got := make([]int8, 4*9), make([]int8, 4*9)
		lp.Run(ctx, want, x, 4, 11)
		if err := rp.Run(ctx, got, x, 4, 11); err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s: %v (equal to local: %v)", what, err, slices.Equal(got, want))
		}
	}
	check("before")
	before := d.Stats()
	a.Stop()
	s, err := chipserver.New(chipserver.Config{Device: device(t, "chip", 6), Logger: quiet, NoRunStream: true, NoSparseInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := grpc.NewServer(s.ServerOptions()...)
	chipv1.RegisterChipServer(g, plainOnly{s})
	done := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Millisecond)
		lis, err := net.Listen("tcp", a.Addr)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		close(done)
		g.Serve(lis)
	}()
	defer g.Stop()
	check("across the restart")
	<-done
	check("after")
	st := d.Stats()
	if wirecodec.SparseFast() && before.SparseRuns == 0 {
		t.Error("no sparse inputs before the restart")
	}
	// (The first attempt after the restart may still go on a stream: the
	// client learns what the server offers when it finds its session gone.)
	if st.SparseRuns != before.SparseRuns || st.Sessions != 2 || st.Runs != 3 {
		t.Errorf("stats %+v after the restart (before %+v): want no more sparse runs, a second session", st, before)
	}
}
