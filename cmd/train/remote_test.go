package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/train"
)

func chipDevice(t *testing.T, seed uint64) analogmac.Device {
	d, err := analogmac.NewDevice(analogmac.KindChip, seed)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readResults(t *testing.T, dir string) *train.Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r train.Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// accuraciesAndLosses is what must be bit-identical between a remote and
// a local run.
func accuraciesAndLosses(r *train.Results) string {
	c := struct {
		Acc     any
		Dev     any
		Unseen  any
		History [][3]float64
	}{Acc: r.Accuracy, Dev: r.Device, Unseen: r.UnseenDevice}
	for _, h := range append(r.History.Float, r.History.HIL...) {
		c.History = append(c.History, [3]float64{h.Loss, h.TrainAcc, h.TestAcc})
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// TestRemoteLikeLocal: -device remote with servers of chips 1 and 2 gives
// bit-identical accuracies, losses and device records to -device chip
// (chips 1 and 2 in process); without -other-remote the unseen-chip
// evaluation is skipped with a line saying so.
func TestRemoteLikeLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three times")
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("a-token-for-the-test\n"), 0o600)
	s1 := chipservertest.Start(t, "", chipserver.Config{Device: chipDevice(t, 1), Token: "a-token-for-the-test"})
	s2 := chipservertest.Start(t, "", chipserver.Config{Device: chipDevice(t, 2), Token: "a-token-for-the-test"})
	common := []string{"-dataset", "yinyang", "-epochs", "1", "-hil-epochs", "1", "-trials", "2", "-train-limit", "500", "-test-limit", "200"}
	runOK := func(out string, extra ...string) string {
		t.Helper()
		var o, e bytes.Buffer
		if code := run(append(append(append([]string{}, common...), "-out", out), extra...), &o, &e); code != 0 {
			t.Fatalf("%v: exit %d\n%s", extra, code, e.String())
		}
		return e.String()
	}
	runOK(filepath.Join(dir, "local"), "-device", "chip", "-chip", "1", "-other-chip", "2")
	runOK(filepath.Join(dir, "remote"), "-device", "remote", "-remote", s1.Addr, "-other-remote", s2.Addr, "-token-file", tok)
	local, rem := readResults(t, filepath.Join(dir, "local")), readResults(t, filepath.Join(dir, "remote"))
	if a, b := accuraciesAndLosses(local), accuraciesAndLosses(rem); a != b {
		t.Errorf("remote run differs from the local one:\nlocal  %s\nremote %s", a, b)
	}
	if rem.Device.String() != "chip 1" || rem.UnseenDevice == nil || rem.UnseenDevice.String() != "chip 2" {
		t.Errorf("remote run records %v and %v", rem.Device, rem.UnseenDevice)
	}
	stderr := runOK(filepath.Join(dir, "alone"), "-device", "remote", "-remote", s1.Addr, "-token-file", tok)
	if !strings.Contains(stderr, "-other-remote HOST:PORT): skipped") {
		t.Errorf("no line says the unseen-chip evaluation was skipped:\n%s", stderr)
	}
	if r := readResults(t, filepath.Join(dir, "alone")); r.UnseenDevice != nil || r.Accuracy.ChipHILOtherChip != nil {
		t.Error("a run without -other-remote has an unseen chip")
	}
}

// TestServerGoneThenResume: when the server goes away for good, the
// trainer gives up after -remote-wait, keeps its checkpoint and exits 75;
// -resume against a new server of the same chip finishes the run with the
// results of an undisturbed one; a server of another chip is refused.
func TestServerGoneThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains twice")
	}
	dir := t.TempDir()
	common := []string{"-dataset", "yinyang", "-epochs", "1", "-hil-epochs", "2", "-trials", "2", "-train-limit", "1000", "-test-limit", "200"}
	var o, e bytes.Buffer
	if code := run(append(append([]string{}, common...), "-out", filepath.Join(dir, "local"), "-device", "chip", "-chip", "1"), &o, &e); code != 0 {
		t.Fatalf("local run: exit %d\n%s", code, e.String())
	}
	first := chipservertest.Start(t, "", chipserver.Config{Device: chipDevice(t, 1)})
	out := filepath.Join(dir, "remote")
	go func() {
		// Gone for good once in-the-loop training is under way.
		for {
			if _, updates := first.Server.Counts(); updates >= 5 {
				first.Stop()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	e.Reset()
	start := time.Now()
	code := run(append(append([]string{}, common...), "-out", out, "-device", "remote", "-remote", first.Addr, "-remote-wait", "1s"), &o, &e)
	if code != exitTempFail || !strings.Contains(e.String(), "checkpoint saved") || !strings.Contains(e.String(), "no answer for 1s") || !strings.Contains(e.String(), "-resume") {
		t.Fatalf("server gone: exit %d, want %d with the checkpoint saved:\n%s", code, exitTempFail, e.String())
	}
	if el := time.Since(start); el > time.Minute {
		t.Errorf("gave up after %v", el)
	}
	if _, err := os.Stat(filepath.Join(out, train.CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	other := chipservertest.Start(t, "", chipserver.Config{Device: chipDevice(t, 2)})
	e.Reset()
	if code := run([]string{"-resume", "-out", out, "-device", "remote", "-remote", other.Addr}, &o, &e); code == 0 || !strings.Contains(e.String(), "does not match") {
		t.Errorf("resume against chip 2: exit %d\n%s", code, e.String())
	}
	second := chipservertest.Start(t, "", chipserver.Config{Device: chipDevice(t, 1)})
	e.Reset()
	if code := run([]string{"-resume", "-out", out, "-device", "remote", "-remote", second.Addr}, &o, &e); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, e.String())
	}
	// The local run also evaluated the unseen chip 2; compare the rest.
	local, rem := readResults(t, filepath.Join(dir, "local")), readResults(t, out)
	local.Accuracy.ChipHILOtherChip, local.UnseenDevice = nil, nil
	if a, b := accuraciesAndLosses(local), accuraciesAndLosses(rem); a != b {
		t.Errorf("resumed remote run differs from the undisturbed local one:\nlocal  %s\nremote %s", a, b)
	}
}

// TestRemoteFlags: remote flags that cannot work are refused before any
// work, naming the flag.
func TestRemoteFlags(t *testing.T) {
	for want, args := range map[string][]string{
		"give the server's address with -remote": {"-device", "remote"},
		"need -device remote":                    {"-remote", "127.0.0.1:1"},
		"-other-chip: with -device remote":       {"-device", "remote", "-remote", "127.0.0.1:1", "-other-chip", "3"},
		"-token-file":                            {"-device", "remote", "-remote", "127.0.0.1:1", "-token-file", "/nonexistent"},
		"-tls-ca":                                {"-device", "remote", "-remote", "127.0.0.1:1", "-tls-ca", "/nonexistent"},
		"-device may only say remote":            {"-resume", "-device", "chip"},
		"drop -chip":                             {"-resume", "-chip", "3"},
	} {
		var o, e bytes.Buffer
		if code := run(append([]string{"-out", "/proc/analogloop-no"}, args...), &o, &e); code != 2 || !strings.Contains(e.String(), want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", args, code, e.String(), want)
		}
	}
}
