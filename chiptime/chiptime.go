package chiptime

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/analogloop/analogloop/analogmac"
)

// Model is the timing model: what one event, one integration and one
// weight write cost on the chip. Default holds the values and
// docs/chip-timing.md their sources.
type Model struct {
	// ClockHz is the FPGA clock that times the input events: 125 MHz
	// (125 cycles per microsecond; fisch constants, brainscales2-demos).
	ClockHz float64 `json:"clock_hz"`
	// WaitBetweenEvents is the number of clock cycles between two input
	// events: hxtorch's default 5 (its MNIST hardware test uses 2).
	WaitBetweenEvents int `json:"wait_between_events"`
	// BaselineSettle is the wait, in seconds, after a neuron reset before
	// the baseline read of every batch entry: 30 us in grenade's
	// execution_instance_builder (host-driven readout).
	BaselineSettle float64 `json:"baseline_settle_s"`
	// ResetSettle is the wait after the reset that starts an integration:
	// 1 us in grenade (2 us with the PPU).
	ResetSettle float64 `json:"reset_settle_s"`
	// MembraneSettle is the wait after the last event before the readout:
	// 1 us in grenade (2 us in its first version).
	MembraneSettle float64 `json:"membrane_settle_s"`
	// CADCRead is one read of the columnar ADC over both halves, including
	// the transfer of its 512 values; an integration reads twice (baseline
	// and result). Assumed: no published figure was found; ours 5 us.
	CADCRead float64 `json:"cadc_read_s"`
	// WeightWrite is the time to write one signed weight (its pair of
	// synapses) when a matrix is programmed or updated. Assumed: 15 ns,
	// about 1 ms for the whole 128 x 512 array; no published figure found.
	WeightWrite float64 `json:"weight_write_s"`
}

// Default returns the model with the values docs/chip-timing.md sources.
func Default() Model {
	return Model{
		ClockHz:           125e6,
		WaitBetweenEvents: 5,
		BaselineSettle:    30e-6,
		ResetSettle:       1e-6,
		MembraneSettle:    1e-6,
		CADCRead:          5e-6,
		WeightWrite:       15e-9,
	}
}

// Validate reports a value no model can have.
func (m Model) Validate() error {
	pos := func(name string, v float64) error {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("chiptime: %s = %g: want a finite value > 0", name, v)
		}
		return nil
	}
	nonNeg := func(name string, v float64) error {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("chiptime: %s = %g: want a finite value >= 0", name, v)
		}
		return nil
	}
	for _, err := range []error{
		pos("clock_hz", m.ClockHz),
		nonNeg("baseline_settle_s", m.BaselineSettle),
		nonNeg("reset_settle_s", m.ResetSettle),
		nonNeg("membrane_settle_s", m.MembraneSettle),
		nonNeg("cadc_read_s", m.CADCRead),
		nonNeg("weight_write_s", m.WeightWrite),
	} {
		if err != nil {
			return err
		}
	}
	if m.WaitBetweenEvents < 1 {
		return fmt.Errorf("chiptime: wait_between_events = %d: want at least 1 cycle", m.WaitBetweenEvents)
	}
	return nil
}

// EventTime is the time one input event takes: WaitBetweenEvents cycles.
func (m Model) EventTime() float64 { return float64(m.WaitBetweenEvents) / m.ClockHz }

// IntegrationTime is the fixed time of one integration, whatever its
// events: the baseline read (reset, settle, read), the reset before the
// events, the settling after them and the result read.
func (m Model) IntegrationTime() float64 {
	return m.BaselineSettle + m.CADCRead + m.ResetSettle + m.MembraneSettle + m.CADCRead
}

// Seconds estimates the chip time of c.
func (m Model) Seconds(c Counts) float64 {
	return float64(c.Integrations)*m.IntegrationTime() + float64(c.Events)*m.EventTime() + float64(c.WeightsWritten)*m.WeightWrite
}

// Counts are what a Meter saw.
type Counts struct {
	Programs int64 `json:"programs"` // matrices programmed
	Updates  int64 `json:"updates"`  // programs given new weights in place
	Runs     int64 `json:"runs"`     // Program.Run calls
	Vectors  int64 `json:"vectors"`  // input vectors
	// Integrations is the number of analog integrations: per vector, one
	// per block of at most 128 rows and per 512 columns (the two halves
	// of the array integrate at once).
	Integrations int64 `json:"integrations"`
	// Events is the number of input events: per integration, one per
	// non-zero input row and send.
	Events int64 `json:"events"`
	// WeightsWritten counts signed weights written by Program and Update.
	WeightsWritten int64 `json:"weights_written"`
}

// Add returns c + o.
func (c Counts) Add(o Counts) Counts {
	return Counts{
		Programs: c.Programs + o.Programs, Updates: c.Updates + o.Updates, Runs: c.Runs + o.Runs,
		Vectors: c.Vectors + o.Vectors, Integrations: c.Integrations + o.Integrations,
		Events: c.Events + o.Events, WeightsWritten: c.WeightsWritten + o.WeightsWritten,
	}
}

// Sub returns c - o: what happened between two readings.
func (c Counts) Sub(o Counts) Counts {
	return Counts{
		Programs: c.Programs - o.Programs, Updates: c.Updates - o.Updates, Runs: c.Runs - o.Runs,
		Vectors: c.Vectors - o.Vectors, Integrations: c.Integrations - o.Integrations,
		Events: c.Events - o.Events, WeightsWritten: c.WeightsWritten - o.WeightsWritten,
	}
}

// Meter is a Device that passes every call on to another and counts what
// the chip would do. It forwards Spec: it changes nothing the device does.
// Meter is safe for concurrent use.
type Meter struct {
	analogmac.Device
	programs, updates, runs, vectors, integrations, events, written atomic.Int64
}

// NewMeter wraps d.
func NewMeter(d analogmac.Device) *Meter { return &Meter{Device: d} }

// Counts returns the totals so far.
func (m *Meter) Counts() Counts {
	return Counts{
		Programs: m.programs.Load(), Updates: m.updates.Load(), Runs: m.runs.Load(), Vectors: m.vectors.Load(),
		Integrations: m.integrations.Load(), Events: m.events.Load(), WeightsWritten: m.written.Load(),
	}
}

// Spec implements analogmac.Describer: the wrapped device's.
func (m *Meter) Spec() analogmac.Spec { return analogmac.Describe(m.Device) }

// Program implements analogmac.Device.
func (m *Meter) Program(ctx context.Context, mat analogmac.Matrix) (analogmac.Program, error) {
	p, err := m.Device.Program(ctx, mat)
	if err != nil {
		return nil, err
	}
	m.programs.Add(1)
	m.written.Add(int64(mat.Rows) * int64(mat.Cols))
	mp := &meteredProgram{Program: p, m: m, rows: mat.Rows, cols: mat.Cols, sends: mat.Sends}
	if _, ok := p.(analogmac.Updater); ok {
		return &meteredUpdater{mp}, nil
	}
	return mp, nil
}

type meteredProgram struct {
	analogmac.Program
	m                 *Meter
	rows, cols, sends int
}

type meteredUpdater struct{ *meteredProgram }

func (p *meteredUpdater) Update(ctx context.Context, w []int8) error {
	if err := p.Program.(analogmac.Updater).Update(ctx, w); err != nil {
		return err
	}
	p.m.updates.Add(1)
	p.m.written.Add(int64(p.rows) * int64(p.cols))
	return nil
}

func (p *meteredProgram) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	if err := p.Program.Run(ctx, dst, x, batch, noise); err != nil {
		return err
	}
	groups := int64((p.cols + analogmac.ArrayCols - 1) / analogmac.ArrayCols)
	blocks := int64((p.rows + analogmac.BlockRows - 1) / analogmac.BlockRows)
	var nonzero int64
	for _, v := range x {
		if v != 0 {
			nonzero++
		}
	}
	p.m.runs.Add(1)
	p.m.vectors.Add(int64(batch))
	p.m.integrations.Add(int64(batch) * blocks * groups)
	p.m.events.Add(nonzero * int64(p.sends) * groups)
	return nil
}
