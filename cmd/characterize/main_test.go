package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
)

func TestRunWritesFiles(t *testing.T) {
	for _, kind := range []string{"ideal", "mock", "chip"} {
		dir := filepath.Join(t.TempDir(), "sub", "dir")
		var stdout strings.Builder
		if err := run([]string{"-out", dir, "-device", kind, "-chip", "3", "-repeats", "5"}, &stdout, io.Discard); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		csv, err := os.ReadFile(filepath.Join(dir, "characterization.csv"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
		if lines[0] != "column,weight,input,mean,std" || len(lines) != 1+127*3 {
			t.Errorf("%s: csv header %q, %d lines", kind, lines[0], len(lines))
		}
		png, err := os.ReadFile(filepath.Join(dir, "characterization.png"))
		if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
			t.Errorf("%s: png: %v", kind, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "parameters.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Device.Kind != kind || rep.Experiment.Repeats != 5 || rep.Experiment.Sends != 2 || rep.Measured.Gain == 0 {
			t.Errorf("%s: parameters.json %s", kind, b)
		}
		if kind == "chip" && (rep.Device.ChipSeed == nil || *rep.Device.ChipSeed != 3 || rep.Configured.ColumnOffsetStd == 0) {
			t.Errorf("chip: seed or configuration missing: %s", b)
		}
		if (kind == "ideal") != (rep.NoiseSeed == nil) {
			t.Errorf("%s: noise seed %v", kind, rep.NoiseSeed)
		}
		if kind == "ideal" && rep.Measured.TrialNoise != 0 {
			t.Errorf("ideal: trial noise %g", rep.Measured.TrialNoise)
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-device", "fpga"},
		{"-repeats", "1"},
		{"-sends", "0"},
		{"-out", ""},
		{"-chip", "-1"},
		{"extra"},
	} {
		out := filepath.Join(dir, "never")
		if err := run(append([]string{"-out", out}, args...), io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: created the output directory before failing", args)
		}
	}
}

// TestWholeArrayWritesCalibration: -whole-array writes a calibration file
// calib reads back, of the chip asked for, whose fitted gains spread as a
// chip's columns do (an ideal device's would not), and its figure.
func TestWholeArrayWritesCalibration(t *testing.T) {
	for _, kind := range []string{"ideal", "chip"} {
		dir := filepath.Join(t.TempDir(), kind)
		var stdout strings.Builder
		if err := run([]string{"-whole-array", "-out", dir, "-device", kind, "-chip", "3"}, &stdout, io.Discard); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		cal, err := calib.Read(filepath.Join(dir, "calibration.json"))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if cal.Device.Kind != kind || len(cal.Columns) != analogmac.ArrayCols {
			t.Errorf("%s: calibration of %s with %d columns", kind, cal.Device, len(cal.Columns))
		}
		if kind == "chip" && (cal.Device.ChipSeed == nil || *cal.Device.ChipSeed != 3 || cal.Summary.GainStd < 0.01) {
			t.Errorf("chip: seed %v, gain std %g", cal.Device.ChipSeed, cal.Summary.GainStd)
		}
		if kind == "ideal" && cal.Summary.GainStd > 1e-3 {
			t.Errorf("ideal: gain std %g, want none", cal.Summary.GainStd)
		}
		if !strings.Contains(stdout.String(), cal.Digest()) {
			t.Errorf("%s: stdout does not name the file's digest %s:\n%s", kind, cal.Digest(), stdout.String())
		}
		png, err := os.ReadFile(filepath.Join(dir, "calibration.png"))
		if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
			t.Errorf("%s: png: %v", kind, err)
		}
	}
}
