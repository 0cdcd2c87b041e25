package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/remote"
)

var quiet = slog.New(slog.DiscardHandler)

func device(t testing.TB, kind string, chip uint64) analogmac.Device {
	t.Helper()
	d, err := analogmac.NewDevice(kind, chip)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dial(t testing.TB, o remote.Options) *remote.Device {
	t.Helper()
	if o.Wait == 0 {
		o.Wait = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	d, err := remote.Dial(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func randMatrix(r *rand.Rand, rows, cols, sends int, p analogmac.Placement) analogmac.Matrix {
	w := make([]int8, rows*cols)
	for i := range w {
		w[i] = int8(r.IntN(2*analogmac.WeightMax+1) - analogmac.WeightMax)
	}
	return analogmac.Matrix{Rows: rows, Cols: cols, Weights: w, Sends: sends, Placement: p}
}

func randInputs(r *rand.Rand, n int) []uint8 {
	x := make([]uint8, n)
	for i := range x {
		if r.IntN(3) > 0 {
			x[i] = uint8(r.IntN(analogmac.InputMax + 1))
		}
	}
	return x
}

// TestRemoteEqualsLocal: through a server, every kind of device gives
// exactly the outputs the same device gives locally, for programs of one
// and of several blocks, after sparse and full updates, and it describes
// itself as the local device does.
func TestRemoteEqualsLocal(t *testing.T) {
	ctx := context.Background()
	for _, kind := range analogmac.Kinds() {
		t.Run(kind, func(t *testing.T) {
			local := device(t, kind, 1)
			srv := chipservertest.Start(t, "", chipserver.Config{Device: device(t, kind, 1)})
			rd := dial(t, remote.Options{Addr: srv.Addr})
			ls, _ := json.Marshal(analogmac.Describe(local))
			rs, _ := json.Marshal(analogmac.Describe(rd))
			if string(ls) != string(rs) || rd.Gain() != local.Gain() {
				t.Fatalf("remote describes %s gain %v, local %s gain %v", rs, rd.Gain(), ls, local.Gain())
			}
			r := rand.New(rand.NewPCG(7, 7))
			for _, sh := range []struct {
				rows, cols, sends int
				pl                analogmac.Placement
			}{{3, 2, 1, analogmac.Placement{}}, {100, 20, 7, analogmac.Placement{Row: 10, Column: 300}}, {300, 270, 3, analogmac.Placement{Column: 100}}} {
				m := randMatrix(r, sh.rows, sh.cols, sh.sends, sh.pl)
				lp, err := local.Program(ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				rp, err := rd.Program(ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				if rp.Matrix().Rows != m.Rows || rp.Matrix().Weights != nil {
					t.Errorf("Matrix() = %+v", rp.Matrix())
				}
				for step := range 6 {
					switch step {
					case 2: // a few weights change: sent sparse
						for range 5 {
							m.Weights[r.IntN(len(m.Weights))] = int8(r.IntN(127) - 63)
						}
					case 4: // all change: sent whole
						m = randMatrix(r, sh.rows, sh.cols, sh.sends, sh.pl)
					}
					if step == 2 || step == 4 {
						if err := lp.(analogmac.Updater).Update(ctx, m.Weights); err != nil {
							t.Fatal(err)
						}
						if err := rp.(analogmac.Updater).Update(ctx, m.Weights); err != nil {
							t.Fatal(err)
						}
					}
					batch := 1 + r.IntN(40)
					x := randInputs(r, batch*sh.rows)
					key := r.Uint64()
					want := make([]int8, batch*sh.cols)
					got := make([]int8, batch*sh.cols)
					if err := lp.Run(ctx, want, x, batch, key); err != nil {
						t.Fatal(err)
					}
					if err := rp.Run(ctx, got, x, batch, key); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%dx%d step %d: remote outputs differ from local", sh.rows, sh.cols, step)
					}
				}
				rp.Close()
				lp.Close()
			}
			st := rd.Stats()
			if st.SparseUpdates != 2 || st.Updates != 6 || st.Runs != 18 || st.Reprograms != 0 || st.BytesSent == 0 {
				t.Errorf("stats %+v: want 6 updates of which 2 sparse (the 3x2 matrix's 5 changes are cheaper whole), 18 runs, no reprogramming", st)
			}
		})
	}
}

// TestContract: the remote device keeps the device contract: errors are
// the sentinels with fields named, canceled contexts stop calls, closed
// programs and devices refuse work, Close is idempotent, and an update to
// the same weights sends nothing.
func TestContract(t *testing.T) {
	ctx := context.Background()
	srv := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 3)})
	d := dial(t, remote.Options{Addr: srv.Addr})
	m := analogmac.Matrix{Rows: 3, Cols: 2, Weights: []int8{1, 2, 3, 4, 5, 6}, Sends: 2}
	bad := m
	bad.Weights = []int8{1, 2, 3, 64, 5, 6}
	var ae *analogmac.ArgError
	if _, err := d.Program(ctx, bad); !errors.As(err, &ae) || ae.Field != "weights[1][1]" {
		t.Errorf("weight 64: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Program(canceled, m); !errors.Is(err, context.Canceled) {
		t.Errorf("Program on a canceled context: %v", err)
	}
	p, err := d.Program(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]int8, 2)
	if err := p.Run(canceled, dst, []uint8{1, 2, 3}, 1, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Run on a canceled context: %v", err)
	}
	if err := p.Run(ctx, dst, []uint8{1, 32, 3}, 1, 0); !errors.As(err, &ae) || ae.Field != "inputs[0][1]" {
		t.Errorf("input 32: %v", err)
	}
	if err := p.Run(ctx, dst, []uint8{1, 2}, 1, 0); !errors.Is(err, analogmac.ErrInvalid) {
		t.Errorf("short inputs: %v", err)
	}
	before := d.Stats()
	if err := p.(analogmac.Updater).Update(ctx, slices.Clone(m.Weights)); err != nil {
		t.Fatal(err)
	}
	if d.Stats().Updates != before.Updates {
		t.Error("an update to the same weights went to the server")
	}
	if err := p.(analogmac.Updater).Update(ctx, []int8{1, 2, 3, 4, 5, -64}); !errors.As(err, &ae) || ae.Field != "weights[2][1]" {
		t.Errorf("update with -64: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := p.Run(ctx, dst, []uint8{1, 2, 3}, 1, 0); !errors.Is(err, analogmac.ErrClosed) {
		t.Errorf("Run on a closed program: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Device.Close: %v", err)
	}
	if _, err := d.Program(ctx, m); !errors.Is(err, analogmac.ErrClosed) {
		t.Errorf("Program on a closed device: %v", err)
	}
}

// TestServerRestart: a server that dies and comes back on the same
// address loses every session and program; the client waits for it, opens
// a new session, programs its last weights again (updates included) and
// repeats the run with the same key: the outputs are those of an
// undisturbed device.
func TestServerRestart(t *testing.T) {
	ctx := context.Background()
	local := device(t, "chip", 2)
	a := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 2)})
	d := dial(t, remote.Options{Addr: a.Addr})
	r := rand.New(rand.NewPCG(1, 2))
	m := randMatrix(r, 200, 30, 4, analogmac.Placement{})
	lp, _ := local.Program(ctx, m)
	rp, err := d.Program(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		x := randInputs(r, 5*200)
		key := r.Uint64()
		want, got := make([]int8, 5*30), make([]int8, 5*30)
		if err := lp.Run(ctx, want, x, 5, key); err != nil {
			t.Fatal(err)
		}
		if err := rp.Run(ctx, got, x, 5, key); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: outputs differ from the local device's", what)
		}
	}
	check("before")
	m.Weights[7] = -m.Weights[7] + 1
	lp.(analogmac.Updater).Update(ctx, m.Weights)
	if err := rp.(analogmac.Updater).Update(ctx, m.Weights); err != nil {
		t.Fatal(err)
	}
	a.Stop()
	// Down for a while, then back on the same port.
	done := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		chipservertest.Start(t, a.Addr, chipserver.Config{Device: device(t, "chip", 2)})
		close(done)
	}()
	check("across the restart")
	<-done
	check("after")
	st := d.Stats()
	if st.Reprograms != 1 || st.Sessions != 2 || st.Retries == 0 {
		t.Errorf("stats %+v: want one reprogramming in a second session after retries", st)
	}
}

// TestServerGoneForGood: when the server does not come back, a call gives
// up after the bounded wait with ErrUnavailable, saying why.
func TestServerGoneForGood(t *testing.T) {
	ctx := context.Background()
	a := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "ideal", 0)})
	d := dial(t, remote.Options{Addr: a.Addr, Wait: 700 * time.Millisecond})
	p, err := d.Program(ctx, analogmac.Matrix{Rows: 1, Cols: 1, Weights: []int8{3}, Sends: 1})
	if err != nil {
		t.Fatal(err)
	}
	a.Stop()
	start := time.Now()
	err = p.Run(ctx, make([]int8, 1), []uint8{1}, 1, 0)
	el := time.Since(start)
	if !errors.Is(err, analogmac.ErrUnavailable) || !strings.Contains(err.Error(), "no answer for 700ms") {
		t.Errorf("got %v, want ErrUnavailable after the wait", err)
	}
	if el < 700*time.Millisecond || el > 5*time.Second {
		t.Errorf("gave up after %v, want about 700ms", el)
	}
	// Dialling a server that is not there fails the same way.
	if _, err := remote.Dial(ctx, remote.Options{Addr: a.Addr, Wait: 300 * time.Millisecond, Logger: quiet}); !errors.Is(err, analogmac.ErrUnavailable) {
		t.Errorf("Dial to nothing: %v", err)
	}
}

// TestOtherDeviceAfterRestart: a server restarted with another chip is not
// silently used: the run fails with ErrUnavailable naming both.
func TestOtherDeviceAfterRestart(t *testing.T) {
	ctx := context.Background()
	a := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 1)})
	d := dial(t, remote.Options{Addr: a.Addr, Wait: 5 * time.Second})
	p, err := d.Program(ctx, analogmac.Matrix{Rows: 1, Cols: 1, Weights: []int8{3}, Sends: 1})
	if err != nil {
		t.Fatal(err)
	}
	a.Stop()
	chipservertest.Start(t, a.Addr, chipserver.Config{Device: device(t, "chip", 2)})
	err = p.Run(ctx, make([]int8, 1), []uint8{1}, 1, 0)
	if !errors.Is(err, analogmac.ErrUnavailable) || !strings.Contains(err.Error(), "now serves chip 2") {
		t.Errorf("got %v", err)
	}
}

// remoteOpts are the benchmarks' client options. BENCH_PLAIN=1 turns the
// protocol's optional parts off (Run calls, plain inputs: as against a
// server without them), BENCH_PLAIN=inputs only the sparse inputs.
func remoteOpts(addr string) remote.Options {
	o := remote.Options{Addr: addr, Logger: quiet, Wait: 10 * time.Second}
	switch os.Getenv("BENCH_PLAIN") {
	case "":
	case "chain":
		o.NoChain = true
	case "inputs":
		o.NoSparse, o.NoChain = true, true
	default:
		o.NoStream, o.NoSparse, o.NoChain = true, true, true
	}
	return o
}
