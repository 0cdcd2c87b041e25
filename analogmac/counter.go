package analogmac

import (
	"context"
	"sync/atomic"
)

// Counter is a Device that passes every call on to another and counts
// them: how often weights were programmed, how many runs and input vectors
// went through, and the input events a chip would have sent. It shows that
// devices compose; the study uses it to report the chip time a training
// strategy costs. Counter is safe for concurrent use.
type Counter struct {
	Device
	programs, updates, runs, vectors, events, macs atomic.Int64
}

// Counts is what a Counter has seen.
type Counts struct {
	Programs int64 `json:"programs"` // weight matrices programmed
	Updates  int64 `json:"updates"`  // programs given new weights in place (Updater)
	Runs     int64 `json:"runs"`     // Program.Run calls
	Vectors  int64 `json:"vectors"`  // input vectors run
	// Events is the number of input events the chip sends: one per
	// non-zero input per send (background.md, event timing), summed over
	// every vector run.
	Events int64 `json:"events"`
	MACs   int64 `json:"macs"` // vectors x rows x columns
}

// NewCounter wraps d.
func NewCounter(d Device) *Counter { return &Counter{Device: d} }

// Counts returns the totals so far.
func (c *Counter) Counts() Counts {
	return Counts{Programs: c.programs.Load(), Updates: c.updates.Load(), Runs: c.runs.Load(), Vectors: c.vectors.Load(), Events: c.events.Load(), MACs: c.macs.Load()}
}

// Spec implements Describer: the wrapped device's.
func (c *Counter) Spec() Spec { return Describe(c.Device) }

// Program implements Device.
func (c *Counter) Program(ctx context.Context, m Matrix) (Program, error) {
	p, err := c.Device.Program(ctx, m)
	if err != nil {
		return nil, err
	}
	c.programs.Add(1)
	cp := &countedProgram{Program: p, c: c}
	if _, ok := p.(Updater); ok {
		// Keep the wrapped program's Updater visible.
		return &countedUpdater{cp}, nil
	}
	return cp, nil
}

type countedUpdater struct{ *countedProgram }

func (p *countedUpdater) Update(ctx context.Context, w []int8) error {
	if err := p.Program.(Updater).Update(ctx, w); err != nil {
		return err
	}
	p.c.updates.Add(1)
	return nil
}

type countedProgram struct {
	Program
	c *Counter
}

func (p *countedProgram) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	if err := p.Program.Run(ctx, dst, x, batch, noise); err != nil {
		return err
	}
	m := p.Matrix()
	var nonzero int64
	for _, v := range x {
		if v != 0 {
			nonzero++
		}
	}
	p.c.runs.Add(1)
	p.c.vectors.Add(int64(batch))
	p.c.events.Add(nonzero * int64(m.Sends))
	p.c.macs.Add(int64(batch) * int64(m.Rows) * int64(m.Cols))
	return nil
}
