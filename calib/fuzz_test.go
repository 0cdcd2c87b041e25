package calib

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chiptime"
)

// synthetic returns a small valid calibration (no measurement behind it),
// with synapse factors if syn.
func synthetic(syn bool) *Calibration {
	seed := uint64(1)
	cfg := analogmac.DefaultChipConfig()
	p := DefaultProtocol(cfg.GainPerSend)
	if !syn {
		p.Synapses, p.ProbeRepeats, p.ProbeWeight, p.ProbeInput, p.ProbeSends, p.ProbeZeros = false, 0, 0, 0, 0, 0
	}
	c := &Calibration{Format: FormatName, Version: Version,
		Device:      analogmac.Spec{Kind: analogmac.KindChip, GainPerSend: cfg.GainPerSend, NoiseStd: cfg.TrialNoiseStd, ChipSeed: &seed, Chip: &cfg},
		GainPerSend: cfg.GainPerSend, Protocol: p, Cost: Cost{Model: chiptime.Default()},
		Columns: make([]Column, analogmac.ArrayCols)}
	for i := range c.Columns {
		c.Columns[i] = Column{Gain: 1 + float64(i%7-3)/100, Offset: float64(i%5 - 2), Noise: 1.6,
			Pos: Branch{Linear: 80, Headroom: 64}, Neg: Branch{Linear: 78, Headroom: 60}, RMS: 0.3}
	}
	if syn {
		s := &Synapses{Rows: analogmac.BlockRows, Cols: analogmac.ArrayCols}
		for r := range analogmac.BlockRows {
			e, in := make([]int16, analogmac.ArrayCols), make([]int16, analogmac.ArrayCols)
			for col := range e {
				e[col], in[col] = int16((r*col)%161-80), int16((r+col)%121-60)
			}
			s.Excitatory, s.Inhibitory = append(s.Excitatory, e), append(s.Inhibitory, in)
		}
		c.Synapses = s
	}
	c.Summary = summarize(c)
	return c
}

// TestWriteFuzzSeeds rewrites testdata/fuzz/FuzzParse when
// CALIB_WRITE_SEEDS=1; otherwise it checks that the seeds parse as they
// should.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	valid, err := synthetic(false).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	withSyn, err := synthetic(true).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(withSyn); err != nil {
		t.Fatalf("a valid calibration with synapse factors: %v", err)
	}
	// The seeds stay small (a file with synapse factors is 0.5 MB, too big
	// for the fuzzer to mutate and minimise quickly): the valid one has no
	// synapse factors, a small one exercises their parsing.
	seeds := map[string][]byte{
		"valid":           valid,
		"truncated":       valid[:len(valid)/2],
		"trailing":        append(append([]byte{}, valid...), "{}"...),
		"version2":        []byte(`{"format":"analogloop-calibration","version":2}`),
		"empty-object":    []byte(`{}`),
		"not-json":        []byte("calibration"),
		"columns-null":    []byte(`{"format":"analogloop-calibration","version":1,"columns":null}`),
		"synapses-ragged": []byte(`{"format":"analogloop-calibration","version":1,"synapses":{"rows":128,"cols":512,"excitatory":[[1,2],[3]]}}`),
	}
	if os.Getenv("CALIB_WRITE_SEEDS") == "1" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range seeds {
		_, err := Parse(b)
		if ok := name == "valid"; ok != (err == nil) {
			t.Errorf("seed %s: error %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("seed %s is missing from %s (CALIB_WRITE_SEEDS=1 go test -run TestWriteFuzzSeeds ./calib writes it)", name, dir)
		}
	}
}

// FuzzParse feeds Parse arbitrary bytes: it must never panic, and what it
// accepts must survive Marshal and Parse unchanged and drive a twin. Run
// it with a short minimisation time (valid inputs are 70 kB):
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 5m -fuzzminimizetime 5s ./calib
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("accepted but not writable: %v", err)
		}
		c2, err := Parse(b)
		if err != nil {
			t.Fatalf("its own output is refused: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatal("changed by a write and read")
		}
		if _, err := NewTwin(c); err != nil {
			t.Fatalf("a valid calibration makes no twin: %v", err)
		}
	})
}
