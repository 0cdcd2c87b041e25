package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/train"
)

func TestBadFlagsRefusedBeforeWork(t *testing.T) {
	cases := map[string][]string{
		"-epochs -3: want 0 or more": {"-epochs", "-3"},
		"-device gpu":                {"-device", "gpu"},
		"-lr 0: want a positive":     {"-lr", "0"},
		"unexpected arguments":       {"extra"},
		"drop -epochs":               {"-resume", "-epochs", "2"},
		"-eval uses only":            {"-eval", "x.json", "-epochs", "2", "-out", "o"},
		"-trials 0":                  {"-eval", "x.json", "-trials", "0"},
	}
	for want, args := range cases {
		var out, errb bytes.Buffer
		// -out points nowhere writable: a run that started would fail there,
		// so exit code 2 proves the refusal came first.
		if args[0] != "-eval" {
			args = append([]string{"-out", "/proc/analogloop-no"}, args...)
		}
		code := run(args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", args, code, errb.String(), want)
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, f := range []string{"-data", "-dataset", "-model", "-epochs", "-hil-epochs", "-batch", "-lr", "-device", "-chip", "-trials", "-seed", "-out", "-resume", "-eval"} {
		if !strings.Contains(errb.String(), "\n  "+f+" ") && !strings.Contains(errb.String(), "\n  "+f+"\n") {
			t.Errorf("-h does not document %s", f)
		}
	}
}

// TestEveryConfigFieldHasAFlag: every field the library can refuse is
// named by its flag, and the help documents that flag.
func TestEveryConfigFieldHasAFlag(t *testing.T) {
	var out, errb bytes.Buffer
	run([]string{"-h"}, &out, &errb)
	ty := reflect.TypeOf(train.Config{})
	for i := range ty.NumField() {
		f := ty.Field(i).Name
		flag, ok := fieldFlags[f]
		if !ok {
			t.Errorf("train.Config.%s has no flag in fieldFlags", f)
			continue
		}
		if !strings.Contains(errb.String(), "\n  -"+flag+" ") {
			t.Errorf("-h does not document -%s (Config.%s)", flag, f)
		}
	}
	msg := flagErrors(errors.Join(&train.FieldError{Field: "HILEpochs", Value: -1, Want: "0 or more"}, errors.New("other")))
	if msg != "-hil-epochs -1: want 0 or more\nother" {
		t.Errorf("flagErrors = %q", msg)
	}
}

// TestModelFromFile: -model takes a JSON description; a bad one is refused
// before any work, naming the file, the layer and the field.
func TestModelFromFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "net.json")
	os.WriteFile(good, []byte(`{"name": "tiny", "layers": [{"type": "dense", "out": 16}, {"type": "converting_relu"}, {"type": "dense"}]}`), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"-dataset", "yinyang", "-model", good, "-epochs", "1", "-hil-epochs", "1", "-trials", "2", "-train-limit", "500", "-test-limit", "200", "-out", filepath.Join(dir, "run")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res train.Results
	b, err := os.ReadFile(filepath.Join(dir, "run", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Model.Name != "tiny" || res.Model.Layers[2].Out != 3 || res.Data.Name != "yinyang" || res.Data.Width != 4 {
		t.Errorf("results record model %+v on data %+v", res.Model, res.Data)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"layers": [{"type": "dense", "out": 16}, {"type": "converting_relu", "shift": 12}, {"type": "dense"}]}`), 0o644)
	errb.Reset()
	code = run([]string{"-dataset", "yinyang", "-model", bad, "-out", filepath.Join(dir, "badrun")}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), `layer 1 (converting_relu): field "shift"`) {
		t.Errorf("bad description: exit %d, %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "badrun", "checkpoint.gob")); err == nil {
		t.Error("a refused description still started a run")
	}
	errb.Reset()
	code = run([]string{"-model", filepath.Join(dir, "missing.json")}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "missing.json") {
		t.Errorf("missing file: exit %d, %s", code, errb.String())
	}
}

// TestSameDeviceHint: -eval says when it measures on another device than
// the export recorded, and how to get a recorded calibrated device.
func TestSameDeviceHint(t *testing.T) {
	chip := func(seed uint64) analogmac.Spec {
		s, err := analogmac.Preset(analogmac.KindChip, seed)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if h := sameDevice(chip(1), chip(1)); h != "" {
		t.Errorf("same chip: %q", h)
	}
	if h := sameDevice(chip(1), chip(2)); !strings.Contains(h, "chip 2") || !strings.Contains(h, "recorded chip 1") {
		t.Errorf("another chip: %q", h)
	}
	base := chip(1)
	cal := analogmac.Spec{Kind: calib.KindCalibratedWeights, GainPerSend: base.GainPerSend, Base: &base, Calibration: "sha256:ab"}
	if h := sameDevice(cal, chip(1)); !strings.Contains(h, "sha256:ab") || !strings.Contains(h, "-calibration FILE -calibrate-weights") {
		t.Errorf("calibrated, measured plain: %q", h)
	}
	if h := sameDevice(cal, cal); h != "" {
		t.Errorf("same calibrated device: %q", h)
	}
}
