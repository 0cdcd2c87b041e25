package analogmac

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// TestContractCloseAndContext: every simulated device honours the contract:
// a canceled context stops Program and Run, a closed program or device
// refuses further work with ErrClosed, and Close is idempotent.
func TestContractCloseAndContext(t *testing.T) {
	m := Matrix{Rows: 3, Cols: 2, Weights: []int8{1, 2, 3, 4, 5, 6}, Sends: 2}
	x := []uint8{1, 2, 3}
	dst := make([]int8, 2)
	for _, kind := range Kinds() {
		d, err := NewDevice(kind, 1)
		if err != nil {
			t.Fatal(err)
		}
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.Program(canceled, m); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Program on a canceled context: %v", kind, err)
		}
		ctx := context.Background()
		p, err := d.Program(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(canceled, dst, x, 1, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Run on a canceled context: %v", kind, err)
		}
		if got := p.Matrix(); got.Rows != 3 || got.Cols != 2 || got.Sends != 2 || got.Weights != nil {
			t.Errorf("%s: Matrix() = %+v", kind, got)
		}
		q, err := d.Program(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("%s: second Program.Close: %v", kind, err)
		}
		if err := p.Run(ctx, dst, x, 1, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Run on a closed program: %v", kind, err)
		}
		if err := q.Run(ctx, dst, x, 1, 0); err != nil {
			t.Errorf("%s: closing one program stopped another: %v", kind, err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("%s: second Device.Close: %v", kind, err)
		}
		if err := q.Run(ctx, dst, x, 1, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Run after the device closed: %v", kind, err)
		}
		if _, err := d.Program(ctx, m); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Program after the device closed: %v", kind, err)
		}
	}
}

// TestProgramCopiesWeights: the caller may reuse its weight slice as soon
// as Program returns.
func TestProgramCopiesWeights(t *testing.T) {
	ctx := context.Background()
	w := []int8{10, 20}
	p, err := NewIdeal().Program(ctx, Matrix{Rows: 1, Cols: 2, Weights: w, Sends: 10})
	if err != nil {
		t.Fatal(err)
	}
	before := make([]int8, 2)
	p.Run(ctx, before, []uint8{31}, 1, 0)
	w[0], w[1] = -60, -60
	after := make([]int8, 2)
	p.Run(ctx, after, []uint8{31}, 1, 0)
	if before[0] != after[0] || before[1] != after[1] || before[0] <= 0 {
		t.Errorf("outputs %v then %v: the program saw the caller's later change", before, after)
	}
}

// TestCounterForwards: a Counter is transparent (same outputs, same errors,
// the wrapped device's Spec) and counts what went through.
func TestCounterForwards(t *testing.T) {
	ctx := context.Background()
	chip, _ := NewDevice(KindChip, 4)
	c := NewCounter(chip)
	s := Shape{Batch: 3, Rows: 200, Cols: 5}
	x := make([]uint8, s.Batch*s.Rows)
	x[0], x[7], x[400] = 5, 31, 1
	w := make([]int8, s.Rows*s.Cols)
	for i := range w {
		w[i] = int8(i%11 - 5)
	}
	a, b := make([]int8, 15), make([]int8, 15)
	if err := MatMul(ctx, chip, a, x, w, s, 4, Placement{}, 99); err != nil {
		t.Fatal(err)
	}
	if err := MatMul(ctx, c, b, x, w, s, 4, Placement{}, 99); err != nil {
		t.Fatal(err)
	}
	if firstDiff(a, b) >= 0 {
		t.Error("the counter changed the outputs")
	}
	if got := (Counts{Programs: 1, Runs: 1, Vectors: 3, Events: 3 * 4, MACs: 3 * 200 * 5}); c.Counts() != got {
		t.Errorf("counts %+v, want %+v", c.Counts(), got)
	}
	if err := MatMul(ctx, c, b, x, w, s, 0, Placement{}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid call through the counter: %v", err)
	}
	if c.Counts().Programs != 1 {
		t.Error("a refused program was counted")
	}
	if Describe(c).ChipSeed == nil || *Describe(c).ChipSeed != 4 {
		t.Errorf("counter describes itself as %+v", Describe(c))
	}
}

// TestUpdateEqualsNewProgram: updating a program's weights in place gives
// the outputs of a fresh program of the new weights, noise included, and
// refuses what Program refuses.
func TestUpdateEqualsNewProgram(t *testing.T) {
	ctx := context.Background()
	s := Shape{Batch: 9, Rows: 150, Cols: 30}
	for _, kind := range Kinds() {
		d, _ := NewDevice(kind, 2)
		x, w1 := randomOperands(newRand(1), s)
		_, w2 := randomOperands(newRand(2), s)
		m := Matrix{Rows: s.Rows, Cols: s.Cols, Weights: w1, Sends: 3, Placement: Placement{Column: 40}}
		p, err := d.Program(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		u, ok := p.(Updater)
		if !ok {
			t.Fatalf("%s: program is not an Updater", kind)
		}
		if err := u.Update(ctx, w2); err != nil {
			t.Fatal(err)
		}
		got := make([]int8, s.Batch*s.Cols)
		if err := p.Run(ctx, got, x, s.Batch, 5); err != nil {
			t.Fatal(err)
		}
		m.Weights = w2
		want := make([]int8, s.Batch*s.Cols)
		if err := MatMul(ctx, d, want, x, w2, s, 3, m.Placement, 5); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("%s: output %d after Update %d, fresh program %d", kind, i, got[i], want[i])
		}
		bad := append([]int8(nil), w2...)
		bad[3] = 64
		if err := u.Update(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: weight 64: %v", kind, err)
		}
		if err := u.Update(ctx, w2[:10]); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: short weights: %v", kind, err)
		}
		p.Close()
		if err := u.Update(ctx, w2); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Update on a closed program: %v", kind, err)
		}
	}
}
