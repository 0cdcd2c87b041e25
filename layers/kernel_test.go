package layers

import (
	"context"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// TestKernelProgramsOnlyWhenWeightsChange: a kernel keeps its program
// while the quantized weights stay the same (a master weight moving within
// its rounding interval changes nothing on the chip), programs again when
// they change, and frees its program when the Exec closes.
func TestKernelProgramsOnlyWhenWeightsChange(t *testing.T) {
	counter := analogmac.NewCounter(analogmac.NewIdeal())
	ex := NewExec(counter, analogmac.DefaultGain)
	ex.Begin(context.Background(), nil)
	d, err := NewDense("d", 4, 3, 100, analogmac.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Weights() {
		d.Weights()[i] = float32(i + 1)
	}
	k := d.NewKernel(ex)
	x := []float32{1, 2, 3, 4}
	y := make([]float32, 3)
	forward := func() {
		t.Helper()
		if err := k.Forward(y, x, 1); err != nil {
			t.Fatal(err)
		}
	}
	forward()
	forward()
	d.Weights()[0] = 1.3 // still rounds to 1
	forward()
	if got := counter.Counts(); got.Programs != 1 || got.Runs != 3 {
		t.Fatalf("same quantized weights: %+v, want 1 program and 3 runs", got)
	}
	before := y[0]
	d.Weights()[0] = 20.4 // now 20
	forward()
	if got := counter.Counts(); got.Programs != 1 || got.Updates != 1 || got.Runs != 4 {
		t.Fatalf("changed weights: %+v, want the program updated in place once, and 4 runs", got)
	}
	// floor(0.0018 * 100 * (1*20 + 2*4 + 3*7 + 4*10)) = floor(16.02)
	if y[0] != 16 || before != 12 {
		t.Errorf("y[0] = %g before and %g after the update, want 12 and 16: the new weights did not reach the device", before, y[0])
	}
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	if k.prog != nil {
		t.Error("Exec.Close left the kernel's program open")
	}
}
