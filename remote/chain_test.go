package remote_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/remote"
	"google.golang.org/grpc"
)

// ignoresThen is a server that lists the feature "chain" but runs only a
// request's own run, as an implementation that does not know
// RunRequest.then would.
type ignoresThen struct{ *chipserver.Server }

func (s ignoresThen) Run(ctx context.Context, req *chipv1.RunRequest) (*chipv1.RunResponse, error) {
	req.Then = nil
	return s.Server.Run(ctx, req)
}

// TestRunChain: a chain of the MNIST network's three analog layers (a
// smaller batch), with updates pending, gives through a server exactly
// the outputs of the local chip's three runs with the conversions between
// them: in one request when the server runs chains, one run per request
// when the client is told not to, when the server does not offer chains,
// and when a server that lists them ignores them.
func TestRunChain(t *testing.T) {
	ctx := context.Background()
	const batch = 6
	shapes := []struct{ rows, cols, sends, shift int }{{100, 20, 7, 0}, {500, 128, 3, 1}, {128, 10, 6, 2}}
	r := rand.New(rand.NewPCG(8, 9))
	var ms []analogmac.Matrix
	for i, sh := range shapes {
		ms = append(ms, randMatrix(r, sh.rows, sh.cols, sh.sends, analogmac.Placement{Column: 128 * i}))
	}
	x := randInputs(r, 25*batch*100)
	// What the local chip gives: the runs one by one, converted here, the
	// updated weights of the second and third layers.
	local := device(t, "chip", 4)
	updated := func(i int) []int8 {
		w := slices.Clone(ms[i].Weights)
		w[3*i] = -w[3*i]
		w[7*i+1] = 17
		return w
	}
	var want [][]int8
	in := x
	for i, sh := range shapes {
		m := ms[i]
		if i > 0 {
			m.Weights = updated(i)
		}
		p, err := local.Program(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		b := len(in) / sh.rows
		y := make([]int8, b*sh.cols)
		if err := p.Run(ctx, y, in, b, uint64(70+i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, y)
		if i+1 < len(shapes) {
			in = make([]uint8, len(y))
			analogmac.ConvertReLU(in, y, shapes[i+1].shift)
		}
	}
	run := func(t *testing.T, d *remote.Device) {
		t.Helper()
		links := make([]analogmac.Link, len(shapes))
		for i, sh := range shapes {
			p, err := d.Program(ctx, ms[i])
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				if err := p.(analogmac.Updater).Update(ctx, updated(i)); err != nil {
					t.Fatal(err)
				}
			}
			b := []int{25 * batch, batch, batch}[i]
			links[i] = analogmac.Link{Program: p, Batch: b, Noise: uint64(70 + i), Out: make([]int8, b*sh.cols), Shift: sh.shift}
		}
		if err := d.RunChain(ctx, x, links); err != nil {
			t.Fatal(err)
		}
		for i, l := range links {
			if !slices.Equal(l.Out, want[i]) {
				t.Fatalf("run %d of the chain differs from the local chip's", i)
			}
		}
	}
	t.Run("chain", func(t *testing.T) {
		d := dial(t, remote.Options{Addr: chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 4)}).Addr, Logger: quiet})
		run(t, d)
		if st := d.Stats(); st.Chains != 1 || st.Runs != 3 || st.Updates != 2 {
			t.Errorf("stats %+v: want 1 chain of 3 runs carrying 2 updates", st)
		}
		// Refused before anything is sent: a program of another device.
		other, _ := local.Program(ctx, ms[2])
		err := d.RunChain(ctx, make([]uint8, 128), []analogmac.Link{{Program: other, Batch: 1, Out: make([]int8, 10)}})
		var ae *analogmac.ArgError
		if !errors.As(err, &ae) || ae.Field != "links[0].program" {
			t.Errorf("a chain of a local program: %v, want an ArgError naming links[0].program", err)
		}
	})
	t.Run("client without chains", func(t *testing.T) {
		d := dial(t, remote.Options{Addr: chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 4)}).Addr, Logger: quiet, NoChain: true})
		run(t, d)
		if st := d.Stats(); st.Chains != 0 || st.Runs != 3 {
			t.Errorf("stats %+v: want 3 runs, no chain", st)
		}
	})
	t.Run("server without chains", func(t *testing.T) {
		d := dial(t, remote.Options{Addr: chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 4), NoChain: true}).Addr, Logger: quiet})
		run(t, d)
		if st := d.Stats(); st.Chains != 0 || st.Runs != 3 {
			t.Errorf("stats %+v: want 3 runs, no chain", st)
		}
	})
	t.Run("server ignoring chains", func(t *testing.T) {
		s, err := chipserver.New(chipserver.Config{Device: device(t, "chip", 4), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		g := grpc.NewServer(s.ServerOptions()...)
		chipv1.RegisterChipServer(g, ignoresThen{s})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go g.Serve(lis)
		defer g.Stop()
		// Run calls, not streams: the wrapper sees every request.
		d := dial(t, remote.Options{Addr: lis.Addr().String(), Logger: quiet, NoStream: true})
		run(t, d)
		if st := d.Stats(); st.Chains != 0 || st.Runs != 3 {
			t.Errorf("stats %+v: want the chain run again one run per request", st)
		}
	})
}
