package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this command as a child process (the test
// binary re-executed with TRAIN_MAIN set), so that signals and exit
// statuses are the real ones.
func TestMain(m *testing.M) {
	if os.Getenv("TRAIN_MAIN") != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func child(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAIN_MAIN=1")
	return cmd
}

// interrupt starts cmd, sends SIGINT once its stderr shows want, and
// returns the exit status and stderr.
func interrupt(t *testing.T, cmd *exec.Cmd, want string) (int, string) {
	t.Helper()
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(errb.String(), want) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%q never appeared:\n%s", want, errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}

// TestSIGINTDuringEvalExits130: -eval interrupted by SIGINT stops with
// status 130 and writes nothing.
func TestSIGINTDuringEvalExits130(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"-dataset", "yinyang", "-epochs", "1", "-hil-epochs", "1", "-trials", "1", "-train-limit", "500", "-out", dir}, &out, &errb); code != 0 {
		t.Fatalf("quick run: exit %d: %s", code, errb.String())
	}
	before, _ := os.ReadDir(dir)
	code, stderr := interrupt(t, child("-eval", filepath.Join(dir, "export-hil.json"), "-trials", "1000"), "msg=evaluating")
	if code != 130 {
		t.Fatalf("exit %d, want 130:\n%s", code, stderr)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("the interrupted -eval left files: %d entries before, %d after", len(before), len(after))
	}
}

// TestSIGINTDuringTrainingExits130: a run interrupted by SIGINT saves its
// checkpoint, says how to resume, and exits 130; the resume finishes.
func TestSIGINTDuringTrainingExits130(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"-dataset", "yinyang", "-epochs", "200", "-hil-epochs", "1", "-trials", "1", "-out", out}
	code, stderr := interrupt(t, child(args...), "phase=float epoch=2")
	if code != 130 || !strings.Contains(stderr, "-resume -out "+out) {
		t.Fatalf("exit %d, want 130 and the resume command:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint.gob")); err != nil {
		t.Fatalf("no checkpoint after the interruption: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and
// the polling test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEvalOfQuickRunExport: an export of a run on a subset of the test
// data is evaluated on exactly that subset: its recorded ideal accuracy
// reproduces.
func TestEvalOfQuickRunExport(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"-dataset", "yinyang", "-epochs", "1", "-hil-epochs", "1", "-trials", "1", "-train-limit", "500", "-test-limit", "7", "-out", dir}, &out, &errb); code != 0 {
		t.Fatalf("quick run: exit %d: %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"-eval", filepath.Join(dir, "export-hil.json"), "-trials", "2"}, &out, &errb); code != 0 {
		t.Fatalf("-eval of a 7-sample export: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "7 samples") || !strings.Contains(out.String(), "reproduced") {
		t.Errorf("-eval output:\n%s", out.String())
	}
}
