package deviceflags

import (
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
)

// calibrationOf characterises chip seed (a quick protocol) into a file.
func calibrationOf(t *testing.T, seed uint64) string {
	t.Helper()
	chip, err := analogmac.NewDevice(analogmac.KindChip, seed)
	if err != nil {
		t.Fatal(err)
	}
	p := calib.DefaultProtocol(chip.Gain())
	p.CurveRepeats, p.Synapses = 4, false
	p.ProbeRepeats, p.ProbeWeight, p.ProbeInput, p.ProbeSends, p.ProbeZeros = 0, 0, 0, 0, 0
	cal, err := calib.Characterize(context.Background(), chip, p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chip.json")
	if err := cal.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func parse(t *testing.T, args ...string) (*Flags, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f Flags
	f.Register(fs, analogmac.KindChip, 1)
	f.RegisterOther(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &f, f.Check()
}

// TestCalibratedDevices: -calibration builds a corrected chip or a twin
// that describe themselves with the calibration's digest, a resumed run's
// recorded Spec reopens only with the same file, and bad combinations are
// refused naming the flag.
func TestCalibratedDevices(t *testing.T) {
	ctx := context.Background()
	file1, file2 := calibrationOf(t, 1), calibrationOf(t, 2)

	f, err := parse(t, "-device", "chip", "-chip", "1", "-calibration", file1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := analogmac.Describe(d)
	if s.Kind != calib.KindCalibrated || s.Base == nil || s.Base.String() != "chip 1" || !strings.HasPrefix(s.Calibration, "sha256:") {
		t.Fatalf("corrected chip describes itself as %+v", s)
	}
	if got := s.String(); got != "calibrated chip 1" {
		t.Errorf("String() = %q", got)
	}
	again, err := f.OpenSpec(s)
	if err != nil {
		t.Fatalf("reopening the recorded Spec: %v", err)
	}
	if a, b := analogmac.Describe(again), s; a.Calibration != b.Calibration || a.Kind != b.Kind || a.Base.String() != b.Base.String() {
		t.Errorf("reopened %+v, recorded %+v", a, b)
	}
	wrong, _ := parse(t, "-calibration", file2)
	if _, err := wrong.OpenSpec(s); err == nil || !strings.Contains(err.Error(), "the run used") {
		t.Errorf("reopening with chip 2's calibration: %v", err)
	}
	none, _ := parse(t)
	if _, err := none.OpenSpec(s); err == nil || !strings.Contains(err.Error(), "-calibration") {
		t.Errorf("reopening without the file: %v", err)
	}
	if _, err := analogmac.New(s); !errors.Is(err, analogmac.ErrInvalid) {
		t.Errorf("analogmac.New of a calibrated Spec: %v", err)
	}

	tf, err := parse(t, "-device", "twin", "-calibration", file1)
	if err != nil {
		t.Fatal(err)
	}
	twin, err := tf.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := analogmac.Describe(twin)
	if ts.Kind != calib.KindTwin || ts.String() != "twin of chip 1" || ts.Calibration != s.Calibration {
		t.Errorf("twin describes itself as %+v", ts)
	}

	for args, want := range map[string]string{
		"-device twin":                       "-calibration FILE",
		"-calibrate-weights":                 "-calibrate-weights needs -calibration",
		"-calibration /nonexistent/cal.json": "-calibration",
		"-device remote -remote x:1 -other-remote y:2 -calibration " + file1: "a calibration belongs to one chip",
	} {
		if _, err := parse(t, strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", args, err, want)
		}
	}
}
