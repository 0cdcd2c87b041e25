package analogmac

import (
	"context"
	"fmt"
)

// MaxShift is the largest shift of ConvertReLU: beyond it every int8
// output maps to 0.
const MaxShift = 7

// ConvertReLU writes to dst (at least len(y) long) the 5-bit inputs that
// the int8 outputs y of one analog layer give the next one through a
// converting ReLU with the given shift (0..MaxShift), as hxtorch's
// ConvertingReLU: min(InputMax, max(0, y) >> shift). It is the conversion
// between the runs of a chain (Chainer).
func ConvertReLU(dst []uint8, y []int8, shift int) {
	dst = dst[:len(y)]
	if convertVector(dst, y, shift) {
		return
	}
	for i, v := range y {
		dst[i] = uint8(min(InputMax, int(max(0, v))>>shift))
	}
}

// Link is one run of a chain (Chainer.RunChain): Batch input vectors
// through Program, with noise key Noise, into Out (Batch x Cols).
type Link struct {
	Program Program
	Batch   int
	Noise   uint64
	Out     []int8
	// Shift is the converting ReLU's (ConvertReLU) that turns the previous
	// link's outputs into this link's inputs; the first link's is unused.
	Shift int
}

// Chainer is a Device that runs several programs one after another in one
// call, each on the outputs of the one before: a network's analog layers,
// with the converting ReLUs between them. For a device behind a network it
// turns a forward pass into one round trip instead of one per layer.
//
// RunChain runs x (links[0].Batch x Rows) through links[0]; every later
// link takes the previous link's Batch x Cols outputs through ConvertReLU
// with its own Shift, read row-major as its Batch x Rows inputs (so the
// previous Batch*Cols equals its Batch*Rows: a convolution's per-patch
// outputs, flattened per sample, feed a dense layer). Every link's outputs
// are written to its Out, bit for bit what separate runs with the same
// inputs and keys write (CheckChain lists what RunChain refuses). The
// programs must be the device's own and distinct. On error the Outs hold
// anything.
type Chainer interface {
	Device
	RunChain(ctx context.Context, x []uint8, links []Link) error
}

// CheckChain validates a chain's shapes: every link's program, batch,
// output length and shift, how each link's inputs follow from the link
// before, and the length of x. Fields are named links[i].<field>. Input
// values are the device's to check, as in Program.Run.
func CheckChain(x []uint8, links []Link) error {
	if len(links) == 0 {
		return argErr("links", "none: want at least one run")
	}
	var prev Matrix
	for i, l := range links {
		f := func(name string) string { return fmt.Sprintf("links[%d].%s", i, name) }
		if l.Program == nil {
			return argErr(f("program"), "nil")
		}
		for _, o := range links[:i] {
			if o.Program == l.Program {
				return argErr(f("program"), "runs twice in one chain: want distinct programs")
			}
		}
		m := l.Program.Matrix()
		switch {
		case l.Batch < 1 || l.Batch > MaxBatch:
			return argErr(f("batch"), "%d: want 1..%d", l.Batch, MaxBatch)
		case len(l.Out) != l.Batch*m.Cols:
			return argErr(f("out"), "holds %d values, batch %d x %d columns needs %d", len(l.Out), l.Batch, m.Cols, l.Batch*m.Cols)
		case i == 0 && len(x) != l.Batch*m.Rows:
			return argErr("inputs", "hold %d values, batch %d x %d rows needs %d", len(x), l.Batch, m.Rows, l.Batch*m.Rows)
		case i > 0 && l.Batch*m.Rows != links[i-1].Batch*prev.Cols:
			return argErr(f("batch"), "%d x %d rows = %d inputs, but the run before gives %d x %d = %d outputs",
				l.Batch, m.Rows, l.Batch*m.Rows, links[i-1].Batch, prev.Cols, links[i-1].Batch*prev.Cols)
		case i > 0 && (l.Shift < 0 || l.Shift > MaxShift):
			return argErr(f("shift"), "%d: want 0..%d", l.Shift, MaxShift)
		}
		prev = m
	}
	return nil
}
