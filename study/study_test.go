package study

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/datasetstest"
	"github.com/analogloop/analogloop/export"
	"github.com/analogloop/analogloop/train"
)

func tinyData() *datasets.Data {
	d := datasetstest.Data(400, 150)
	d.Name = "mnist"
	return d
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Train.Epochs, c.Train.HILEpochs, c.Train.Batch, c.Train.Trials = 1, 1, 50, 2
	c.Unseen, c.UnseenTrials = 2, 1
	c.TwinEpochs, c.TwinChipEpochs, c.VAEpochs, c.VAChipEpochs = 1, 1, 1, 1
	c.MultiChips, c.MultiEpochs = 2, 1
	c.Sweep, c.SweepHILEpochs, c.SweepTrials = []float64{0, 1}, 1, 1
	return c
}

// comparable strips what legitimately differs between two runs: times,
// the command and whether the run was continued.
func comparable(r *Results) Results {
	c := *r
	c.WallSeconds, c.Resumed, c.Command, c.Machine = 0, false, "", Machine{}
	c.Float.History = stripHistory(r.Float.History)
	c.Calibration.Wall = 0
	c.Strategies = nil
	for _, s := range r.Strategies {
		s.TrainSeconds = 0
		s.History = stripHistory(s.History)
		c.Strategies = append(c.Strategies, s)
	}
	c.Targets = nil
	for _, t := range r.Targets {
		if !strings.Contains(t.Name, "minutes") {
			c.Targets = append(c.Targets, t)
		}
	}
	return c
}

func stripHistory(h []train.EpochStats) []train.EpochStats {
	out := make([]train.EpochStats, len(h))
	for i, st := range h {
		st.Seconds, st.ImgPerSec = 0, 0
		out[i] = st
	}
	return out
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runTiny runs the tiny study into dir; every test shares one
// uninterrupted run.
func runTiny(t *testing.T, ctx context.Context, cfg Config, dir string) (*Results, error) {
	return Run(ctx, cfg, Options{Out: dir, Data: tinyData(), Parallel: 2, Command: "test", Logger: slog.New(slog.DiscardHandler)})
}

var reference struct {
	dir string
	res *Results
}

func referenceRun(t *testing.T) (string, *Results) {
	t.Helper()
	if reference.res == nil {
		dir, err := os.MkdirTemp("", "study-ref-")
		if err != nil {
			t.Fatal(err)
		}
		res, err := runTiny(t, context.Background(), tinyConfig(), dir)
		if err != nil {
			t.Fatal(err)
		}
		reference.dir, reference.res = dir, res
	}
	return reference.dir, reference.res
}

func TestMain(m *testing.M) {
	code := m.Run()
	if reference.dir != "" {
		os.RemoveAll(reference.dir)
	}
	os.Exit(code)
}

func TestStudyOutputs(t *testing.T) {
	dir, res := referenceRun(t)
	if !res.Complete || len(res.Strategies) != len(strategies()) || len(res.Sweep) != 2 || len(res.Targets) != 4 {
		t.Fatalf("incomplete results: complete %v, %d strategies, %d sweep points, %d targets", res.Complete, len(res.Strategies), len(res.Sweep), len(res.Targets))
	}
	for _, f := range res.Files {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("output %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, StateDir)); !os.IsNotExist(err) {
		t.Errorf("the state directory survived a complete study: %v", err)
	}
	if _, err := calib.Read(filepath.Join(dir, res.Calibration.File)); err != nil {
		t.Errorf("calibration file: %v", err)
	}
	imgs := int64(400 / 50 * 50)
	want := map[string]int64{"float": 0, "calibrated-columns": 0, "calibrated": 0, "hil": imgs, "twin-hil": imgs, "va": 0, "va-hil": imgs, "multi": imgs}
	for _, s := range res.Strategies {
		if s.ChipImages != want[s.ID] {
			t.Errorf("%s: %d chip images, want %d", s.ID, s.ChipImages, want[s.ID])
		}
		if len(s.Unseen) != 2 || *s.Unseen[0].Chip != 101 || *s.Unseen[1].Chip != 102 {
			t.Errorf("%s: unseen chips %v", s.ID, s.Unseen)
		}
		// Every inference on a chip costs chip time; training on a chip too.
		if s.PerImage.Seconds <= 0 || (s.ChipImages > 0) != (s.Counts.Vectors > 0) && !s.CalibratedEval && s.ID != "twin-hil" {
			t.Errorf("%s: per image %+v, counts %+v", s.ID, s.PerImage, s.Counts)
		}
		if s.Characterized > 0 != (s.ID == "calibrated" || s.ID == "calibrated-columns" || s.ID == "twin-hil") {
			t.Errorf("%s: %d characterisations", s.ID, s.Characterized)
		}
		// Each export is what cmd/train -eval reads: it imports and
		// reproduces its recorded ideal accuracy.
		net, m, err := export.Import(filepath.Join(dir, s.Export))
		if err != nil {
			t.Fatalf("%s: %v", s.ID, err)
		}
		if _, err := m.CheckAccuracy(context.Background(), net, tinyData().Test); err != nil {
			t.Errorf("%s: %v", s.ID, err)
		}
	}
	// Training on a chip meters what a chip did: vectors per image = the
	// network's 25 conv patches + 1 + 1.
	hil := res.Strategies[3]
	if hil.ID != "hil" || hil.Counts.Vectors != imgs*27 || hil.Seconds <= 0 {
		t.Errorf("hil counts %+v, seconds %g: want %d vectors", hil.Counts, hil.Seconds, imgs*27)
	}
	md, err := os.ReadFile(filepath.Join(dir, ResultsMD))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| strategy |", "twin, then in the loop", "## Deviation sweep", "## Targets"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
}

// The study's float and in-the-loop networks are cmd/train's, bit for
// bit: same phases, same streams of draws.
func TestStudyMatchesTrainRun(t *testing.T) {
	dir, res := referenceRun(t)
	tdir := t.TempDir()
	chip1, _ := analogmac.NewDevice(analogmac.KindChip, 1)
	if _, err := train.Run(context.Background(), res.Config.Train, train.Options{Out: tdir, Data: tinyData(), InLoop: chip1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"export-float.json", "export-float.json"}, {"export-hil.json", "export-hil.json"}} {
		_, a, err := export.Import(filepath.Join(dir, p[0]))
		if err != nil {
			t.Fatal(err)
		}
		_, b, err := export.Import(filepath.Join(tdir, p[1]))
		if err != nil {
			t.Fatal(err)
		}
		if a.Weights.SHA256 != b.Weights.SHA256 {
			t.Errorf("%s: the study's weights differ from cmd/train's", p[0])
		}
	}
}

// An interrupted study keeps its finished stages and, run again, ends
// with exactly the numbers of an uninterrupted one; another study's state
// is refused.
func TestStudyResumes(t *testing.T) {
	_, want := referenceRun(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	testHookSaved = func(name string) {
		if name == "twin-hil" {
			cancel()
		}
	}
	defer func() { testHookSaved = nil }()
	_, err := runTiny(t, ctx, tinyConfig(), dir)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted study: %v", err)
	}
	for _, s := range []string{"float-net", "calibration", "float", "hil", "twin-hil"} {
		if _, err := os.Stat(statePath(dir, s)); err != nil {
			t.Errorf("finished stage %s not kept: %v", s, err)
		}
	}
	other := tinyConfig()
	other.Train.Seed = 2
	if _, err := runTiny(t, context.Background(), other, dir); !errors.Is(err, ErrForeignState) {
		t.Fatalf("another study over this state: %v", err)
	}
	testHookSaved = nil
	got, err := runTiny(t, context.Background(), tinyConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Resumed {
		t.Error("a continued study does not say so")
	}
	if a, b := jsonOf(t, comparable(got)), jsonOf(t, comparable(want)); a != b {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		lo := max(0, i-200)
		t.Fatalf("continued study differs from an uninterrupted one at byte %d:\n%s\n%s", i, a[lo:min(len(a), i+100)], b[lo:min(len(b), i+100)])
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		f     func(c *Config)
	}{
		{"UnseenFirst", func(c *Config) { c.UnseenFirst = 3 }}, // overlaps chips 1..4 of multi-chip training
		{"Unseen", func(c *Config) { c.Unseen = 0 }},
		{"MultiChips", func(c *Config) { c.MultiChips = 1 }},
		{"Sweep", func(c *Config) { c.Sweep = []float64{1, 1} }},
		{"Sweep", func(c *Config) { c.Sweep = []float64{-1} }},
		{"VAEpochs", func(c *Config) { c.VAEpochs = 0 }},
		{"OwnChip", func(c *Config) { c.OwnChip = 1 << 63 }},
		{"SweepTrials", func(c *Config) { c.SweepTrials = 0 }},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.f(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: error %v", tc.field, err)
		}
	}
	c := DefaultConfig()
	c.Train.Batch = 0
	if err := c.Validate(); !errors.Is(err, train.ErrInvalidConfig) {
		t.Errorf("batch 0: %v", err)
	}
}

func TestRunRefuses(t *testing.T) {
	ctx := context.Background()
	if _, err := Run(ctx, tinyConfig(), Options{Out: t.TempDir()}); err == nil {
		t.Error("no data accepted")
	}
	d := tinyData()
	d.Name = "fashion-mnist"
	if _, err := Run(ctx, tinyConfig(), Options{Out: t.TempDir(), Data: d}); err == nil || !strings.Contains(err.Error(), "fashion-mnist") {
		t.Errorf("data of another name: %v", err)
	}
	c := tinyConfig()
	c.Train.TestLimit = 1000
	if _, err := Run(ctx, c, Options{Out: t.TempDir(), Data: tinyData()}); err == nil {
		t.Error("a test limit beyond the data accepted")
	}
}

// Findings interpolate where direct transfer loses the published drop.
func TestFindings(t *testing.T) {
	res := &Results{}
	res.Float.Float = 0.99
	pt := func(s, direct, loop float64) SweepPoint {
		return SweepPoint{Scale: s, Direct: train.Trials{AccuracyStats: export.AccuracyStats{Mean: direct}},
			InLoop: train.Trials{AccuracyStats: export.AccuracyStats{Mean: loop}}}
	}
	res.Sweep = []SweepPoint{pt(0, 0.99, 0.99), pt(1, 0.96, 0.985), pt(2, 0.90, 0.98)}
	f := findings(res)
	// Drop 6.88: between scale 1 (3 points) and 2 (9 points): t = 3.88/6.
	if !f.Reached || abs(f.Scale-(1+3.88/6)) > 1e-9 || abs(f.InLoop-(0.985-0.005*3.88/6)) > 1e-9 {
		t.Fatalf("findings %+v", f)
	}
	res.Sweep = res.Sweep[:2]
	if f := findings(res); f.Reached {
		t.Fatalf("reached without a point that loses enough: %+v", f)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
