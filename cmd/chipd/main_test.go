package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets/datasetstest"
	"github.com/analogloop/analogloop/remote"
	"github.com/analogloop/analogloop/train"
)

var quiet = slog.New(slog.DiscardHandler)

// chipdBin is chipd built once for the tests that run it as a process.
var (
	buildOnce sync.Once
	chipdBin  string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chipd-test")
		if err != nil {
			buildErr = err
			return
		}
		chipdBin = filepath.Join(dir, "chipd")
		out, err := exec.Command("go", "build", "-o", chipdBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return chipdBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chipdBin != "" {
		os.RemoveAll(filepath.Dir(chipdBin))
	}
	os.Exit(code)
}

// freePort returns a loopback address nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// chipd is a chipd process.
type chipd struct {
	cmd  *exec.Cmd
	done chan error
	mu   sync.Mutex
	log  bytes.Buffer // its stderr so far
}

func (c *chipd) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// start runs chipd with args and waits until it serves.
func start(t *testing.T, args ...string) *chipd {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	c := &chipd{cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			c.mu.Lock()
			c.log.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if strings.Contains(sc.Text(), "msg=serving") {
				once.Do(func() { close(serving) })
			}
		}
	}()
	go func() { c.done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-c.done
		}
	})
	select {
	case <-serving:
	case err := <-c.done:
		t.Fatalf("chipd %v exited: %v\n%s", args, err, c.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("chipd %v does not serve:\n%s", args, c.logs())
	}
	return c
}

// metric reads one sample from a chipd's metrics, 0 when absent.
func metric(t *testing.T, addr, series string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func outcome(r *train.Results) string {
	c := struct {
		Acc     any
		History [][3]float64
	}{Acc: r.Accuracy}
	for _, h := range append(r.History.Float, r.History.HIL...) {
		c.History = append(c.History, [3]float64{h.Loss, h.TrainAcc, h.TestAcc})
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// TestKillAndRestartMidRun: chipd is killed (SIGKILL) in the middle of
// in-the-loop training and started again on the same address; the trainer
// waits, reconnects, programs its weights again and finishes with exactly
// the results of an undisturbed run (here: the same run on the local chip).
func TestKillAndRestartMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains twice")
	}
	addr, maddr := freePort(t), freePort(t)
	args := []string{"-addr", addr, "-device", "chip", "-chip", "1", "-metrics-addr", maddr}
	first := start(t, args...)
	cfg := train.DefaultConfig()
	cfg.Epochs, cfg.HILEpochs, cfg.Trials, cfg.Batch = 1, 2, 2, 50
	data := datasetstest.Data(600, 100)
	data.Name = "mnist"

	local, err := analogmac.NewDevice(analogmac.KindChip, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := train.Run(context.Background(), cfg, train.Options{Out: t.TempDir(), Data: data, InLoop: local, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}

	d, err := remote.Dial(context.Background(), remote.Options{Addr: addr, Wait: time.Minute, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	type result struct {
		res *train.Results
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := train.Run(context.Background(), cfg, train.Options{Out: t.TempDir(), Data: data, InLoop: d, Logger: quiet})
		done <- result{res, err}
	}()
	// Kill once in-the-loop training has sent a few weight updates.
	deadline := time.Now().Add(2 * time.Minute)
	for metric(t, maddr, "chipd_weight_updates_total") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no updates reached chipd:\n%s", first.logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done
	time.Sleep(500 * time.Millisecond) // down for a while
	start(t, args...)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, w := outcome(r.res), outcome(want); got != w {
		t.Errorf("run across the restart differs from the undisturbed run:\n%s\n%s", got, w)
	}
	st := d.Stats()
	if st.Sessions < 2 || st.Reprograms == 0 {
		t.Errorf("stats %+v: the restart was not noticed", st)
	}
	t.Logf("across the restart: %+v", st)
}

// TestSIGTERMDrains: SIGTERM lets a call in progress finish, refuses new
// ones, and chipd exits 0.
func TestSIGTERMDrains(t *testing.T) {
	addr, maddr := freePort(t), freePort(t)
	c := start(t, "-addr", addr, "-device", "chip", "-metrics-addr", maddr)
	ctx := context.Background()
	d, err := remote.Dial(ctx, remote.Options{Addr: addr, Wait: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const rows, cols, batch = 128, 512, 16384 // about a second of work
	p, err := d.Program(ctx, analogmac.Matrix{Rows: rows, Cols: cols, Weights: make([]int8, rows*cols), Sends: 1})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { res <- p.Run(ctx, make([]int8, batch*cols), make([]uint8, batch*rows), batch, 1) }()
	for metric(t, maddr, "chipd_calls_in_progress") < 1 {
		time.Sleep(time.Millisecond)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-res; err != nil {
		t.Errorf("the call in progress at SIGTERM: %v", err)
	}
	if err := p.Run(ctx, make([]int8, cols), make([]uint8, rows), 1, 2); err == nil {
		t.Error("a call after SIGTERM was served")
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("chipd exited with %v, want 0:\n%s", err, c.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("chipd did not exit after SIGTERM")
	}
	// The last lines may still be on their way from the pipe.
	for wait := 0; !strings.Contains(c.logs(), "msg=stopped") && wait < 100; wait++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(c.logs(), `msg="draining:`) {
		t.Errorf("log does not say it drained:\n%s", c.logs())
	}
}

// TestRefusesPublicWithoutToken: chipd listens beyond loopback only with a
// token; flags that cannot work are refused before anything starts.
func TestRefusesPublicWithoutToken(t *testing.T) {
	t.Setenv("ANALOGLOOP_CHIP_TOKEN", "")
	for want, args := range map[string][]string{
		"not a loopback address":  {"-addr", "0.0.0.0:7070"},
		"not a loopback address ": {"-addr", ":7070"},
		"-device remote":          {"-device", "remote"},
		"go together":             {"-tls-cert", "x.pem"},
		"token file":              {"-token-file", "/nonexistent/token"},
		"unexpected arguments":    {"serve"},
	} {
		var errb bytes.Buffer
		if code := run(args, &errb, nil); code != 2 || !strings.Contains(errb.String(), strings.TrimSpace(want)) {
			t.Errorf("%v: exit %d, %q", args, code, errb.String())
		}
	}
}
