// Package pythonserver_test tests the Python chip server (chip_server.py)
// from Go: the same device contract as the Go ideal device, bit for bit,
// and the same refusals. It needs Debian's python3-grpcio and
// python3-numpy; without them it skips, unless REQUIRE_PYTHON_SERVER is
// set (.ci/crossprocess.sh sets it after installing them).
package pythonserver_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const python = "/usr/bin/python3"

func startServer(t *testing.T, token string) (addr string, stop func() error) {
	t.Helper()
	if err := exec.Command(python, "-c", "import grpc, numpy").Run(); err != nil {
		if os.Getenv("REQUIRE_PYTHON_SERVER") != "" {
			t.Fatalf("python3-grpcio and python3-numpy are required: %v", err)
		}
		t.Skip("Debian's python3-grpcio and python3-numpy are not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	tf := t.TempDir() + "/token"
	os.WriteFile(tf, []byte(token), 0o600)
	cmd := exec.Command(python, "chip_server.py", "--addr", addr, "--token-file", tf)
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 300 {
			t.Fatalf("the Python server does not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			done <- err
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("the Python server did not stop on SIGTERM")
		}
		return nil
	}
}

func randMatrix(r *rand.Rand, rows, cols, sends int) analogmac.Matrix {
	w := make([]int8, rows*cols)
	for i := range w {
		w[i] = int8(r.IntN(127) - 63)
	}
	return analogmac.Matrix{Rows: rows, Cols: cols, Weights: w, Sends: sends}
}

// TestPythonServerEqualsIdeal: through the Python server, programs of one
// and several blocks, sparse and full updates and runs give exactly the Go
// ideal device's outputs, and the server describes itself as that device.
func TestPythonServerEqualsIdeal(t *testing.T) {
	addr, stop := startServer(t, "py-token")
	ctx := context.Background()
	d, err := remote.Dial(ctx, remote.Options{Addr: addr, Token: "py-token", Wait: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	local := analogmac.NewIdeal()
	if d.Spec() != local.Spec() || d.Gain() != local.Gain() {
		t.Fatalf("the Python server describes %+v, the Go ideal device is %+v", d.Spec(), local.Spec())
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range [][3]int{{3, 2, 1}, {100, 20, 7}, {300, 270, 3}} {
		m := randMatrix(r, sh[0], sh[1], sh[2])
		lp, _ := local.Program(ctx, m)
		rp, err := d.Program(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		for step := range 5 {
			if step == 2 {
				m.Weights[r.IntN(len(m.Weights))] = int8(r.IntN(127) - 63)
			}
			if step == 4 {
				m = randMatrix(r, sh[0], sh[1], sh[2])
			}
			lp.(analogmac.Updater).Update(ctx, m.Weights)
			if err := rp.(analogmac.Updater).Update(ctx, m.Weights); err != nil {
				t.Fatal(err)
			}
			batch := 1 + r.IntN(30)
			x := make([]uint8, batch*sh[0])
			for i := range x {
				x[i] = uint8(r.IntN(32))
			}
			want, got := make([]int8, batch*sh[1]), make([]int8, batch*sh[1])
			lp.Run(ctx, want, x, batch, 1)
			if err := rp.Run(ctx, got, x, batch, 1); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%v step %d: the Python server's outputs differ from the Go ideal device's", sh, step)
			}
		}
	}
	if st := d.Stats(); st.SparseUpdates == 0 || st.Updates < 4 {
		t.Errorf("stats %+v: want sparse and full updates", st)
	}
	d.Close()
	if err := stop(); err != nil {
		t.Errorf("SIGTERM: %v, want exit 0", err)
	}
}

// TestPythonServerRefusals: the Python server refuses what chipd refuses,
// with the same codes and field names.
func TestPythonServerRefusals(t *testing.T) {
	addr, _ := startServer(t, "py-token")
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := chipv1.NewChipClient(conn)
	if _, err := c.Describe(context.Background(), &chipv1.DescribeRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer py-token")
	s, err := c.OpenSession(ctx, &chipv1.OpenSessionRequest{Client: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sess := s.Session
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: sess, Program: 1, Rows: 2, Cols: 3, Sends: 1, Weights: make([]byte, 6), Version: 1}); err != nil {
		t.Fatal(err)
	}
	for field, call := range map[string]func() error{
		"weights[1][2]": func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: sess, Program: 2, Rows: 2, Cols: 3, Sends: 1, Weights: []byte{0, 0, 0, 0, 0, 64}})
			return err
		},
		"placement.column": func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: sess, Program: 2, Rows: 2, Cols: 300, Sends: 1, Weights: make([]byte, 600), Placement: &chipv1.Placement{Column: 300}})
			return err
		},
		"inputs[1][0]": func() error {
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: sess, Program: 1, Version: 1, Batch: 2, Inputs: []byte{0, 31, 32, 0}})
			return err
		},
		"update.changes.gaps[1]": func() error {
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: sess, Program: 1, Version: 2, Batch: 1, Inputs: []byte{1, 1},
				Update: &chipv1.UpdateRequest{BaseVersion: 1, Version: 2, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{1, 4}, Values: []byte{1, 1}}}}})
			return err
		},
	} {
		st := status.Convert(call())
		if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), field+": ") {
			t.Errorf("%s: %v", field, st.Err())
		}
	}
	if _, err := c.Run(ctx, &chipv1.RunRequest{Session: sess, Program: 9, Batch: 1}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown program: %v", err)
	}
	if _, err := c.Run(ctx, &chipv1.RunRequest{Session: sess, Program: 1, Version: 7, Batch: 1, Inputs: []byte{1, 1}}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("other version: %v", err)
	}
}
