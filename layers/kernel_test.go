package layers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

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

// rendezvousDevice holds every Program and Update until `want` of them are
// under way at once, or gives up after a second: it tells overlapping
// calls from calls made one after another.
type rendezvousDevice struct {
	analogmac.Device
	want    int
	arrived chan struct{}
}

func (d *rendezvousDevice) meet(ctx context.Context) error {
	d.arrived <- struct{}{}
	deadline := time.After(time.Second)
	for len(d.arrived) < d.want {
		select {
		case <-deadline:
			return errors.New("calls made one after another")
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func (d *rendezvousDevice) Program(ctx context.Context, m analogmac.Matrix) (analogmac.Program, error) {
	if err := d.meet(ctx); err != nil {
		return nil, err
	}
	return d.Device.Program(ctx, m)
}

// TestProgramAllOverlaps: ProgramAll programs the kernels at once (a
// remote device's round trips overlap), and the forward pass that follows
// does not program again.
func TestProgramAllOverlaps(t *testing.T) {
	const layers = 3
	counter := analogmac.NewCounter(analogmac.NewIdeal())
	dev := &rendezvousDevice{Device: counter, want: layers, arrived: make(chan struct{}, layers)}
	ex := NewExec(dev, analogmac.DefaultGain)
	ex.Begin(context.Background(), nil)
	var ks []*Kernel
	for i := range layers {
		d, err := NewDense(fmt.Sprint("d", i), 4, 3, 100, analogmac.Placement{})
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, d.NewKernel(ex))
	}
	if err := ex.ProgramAll(); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, 3)
	for _, k := range ks {
		if err := k.Forward(y, []float32{1, 2, 3, 4}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter.Counts(); got.Programs != layers || got.Runs != layers {
		t.Errorf("%+v, want %d programs and %d runs", got, layers, layers)
	}
}
