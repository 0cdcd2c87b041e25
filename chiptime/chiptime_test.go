package chiptime

import (
	"context"
	"math"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

func TestMeterCounts(t *testing.T) {
	ctx := context.Background()
	m := NewMeter(analogmac.NewIdeal())
	// 300 rows (3 blocks) x 600 columns (2 column groups of 512), 4 sends.
	rows, cols, batch := 300, 600, 3
	p, err := m.Program(ctx, analogmac.Matrix{Rows: rows, Cols: cols, Weights: make([]int8, rows*cols), Sends: 4})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]uint8, batch*rows)
	for i := range 10 {
		x[i*7] = 5 // 10 non-zero inputs
	}
	if err := p.Run(ctx, make([]int8, batch*cols), x, batch, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.(analogmac.Updater).Update(ctx, make([]int8, rows*cols)); err != nil {
		t.Fatal(err)
	}
	got := m.Counts()
	want := Counts{Programs: 1, Updates: 1, Runs: 1, Vectors: 3, Integrations: 3 * 3 * 2, Events: 10 * 4 * 2, WeightsWritten: int64(2 * rows * cols)}
	if got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	// A failed run counts nothing.
	if err := p.Run(ctx, make([]int8, 1), x, batch, 0); err == nil {
		t.Fatal("short output accepted")
	}
	if m.Counts() != want {
		t.Fatal("a failed run was counted")
	}
	if s := m.Spec(); s.Kind != analogmac.KindIdeal {
		t.Errorf("Spec %v: want the wrapped device's", s)
	}
}

func TestModelSeconds(t *testing.T) {
	m := Default()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	// 128 events at wait 5 and 125 MHz: 5.12 us (background.md).
	if got := 128 * m.EventTime(); math.Abs(got-5.12e-6) > 1e-12 {
		t.Errorf("128 events take %g s, want 5.12 us", got)
	}
	m2 := m
	m2.WaitBetweenEvents = 2
	if got := 128 * m2.EventTime(); math.Abs(got-2.048e-6) > 1e-12 {
		t.Errorf("128 events at wait 2 take %g s, want 2.05 us", got)
	}
	c := Counts{Integrations: 10, Events: 1000, WeightsWritten: 65536}
	want := 10*m.IntegrationTime() + 1000*m.EventTime() + 65536*m.WeightWrite
	if got := m.Seconds(c); math.Abs(got-want) > 1e-15 {
		t.Errorf("Seconds %g, want %g", got, want)
	}
	if c.Add(c).Sub(c) != c {
		t.Error("Add and Sub do not invert")
	}
	bad := m
	bad.ClockHz = 0
	if bad.Validate() == nil {
		t.Error("clock 0 accepted")
	}
	bad = m
	bad.WaitBetweenEvents = 0
	if bad.Validate() == nil {
		t.Error("wait 0 accepted")
	}
	bad = m
	bad.CADCRead = math.Inf(1)
	if bad.Validate() == nil {
		t.Error("infinite read time accepted")
	}
}
