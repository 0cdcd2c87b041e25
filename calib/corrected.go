package calib

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/analogloop/analogloop/analogmac"
)

// Corrected is digital calibration: a device that runs on another one (a
// chip) and corrects every block output on the host from a calibration
// alone, what a user without in-the-loop training can do. Per block of at
// most 128 rows it reads the chip's int8 output y of physical column c,
// takes y + 0.5 back through the column's fitted saturation, removes the
// offset and divides by the gain:
//
//	z = (unsat_c(y + 0.5) - Offset_c) / Gain_c,  out = floor(z)
//
// which estimates the ideal device's floor(gain * sends * x.w); the blocks
// are then added and clamped as on the chip. To see each block's output
// the wrapper programs every row block of a matrix as a matrix of its own
// at the same placement (the chip digitises them separately anyway, and
// BrainScaleS-2 adds them on the host); the events and integrations are
// the same.
//
// With CorrectOptions.Weights and synapse factors in the calibration, it
// also divides every weight by its synapse's factor before programming
// (rounded, within ±63): the mismatch is compensated where it arises.
//
// Corrected describes itself (analogmac.Describer) as kind
// KindCalibrated (or KindCalibratedWeights with CorrectOptions.Weights),
// with the wrapped device as Base and the calibration's Digest; Inner
// returns the wrapped device.
type Corrected struct {
	inner  analogmac.Device
	cal    *Calibration
	opt    CorrectOptions
	digest string // cal.Digest(), computed once
}

// CorrectOptions say what Corrected corrects beyond each column's output.
type CorrectOptions struct {
	// Weights divides each weight by its synapse's factor before
	// programming; it needs a calibration with synapse factors.
	Weights bool `json:"weights"`
}

// NewCorrected wraps d with the correction cal describes. cal must come
// from the same chip as d: nothing can check that but the accuracy.
func NewCorrected(d analogmac.Device, cal *Calibration, o CorrectOptions) (*Corrected, error) {
	if err := cal.Validate(); err != nil {
		return nil, fmt.Errorf("calib: corrected: %w: %v", ErrInvalid, err)
	}
	if o.Weights && cal.Synapses == nil {
		return nil, fmt.Errorf("calib: corrected: weight correction needs synapse factors; the calibration has none (protocol.synapses false)")
	}
	if g := d.Gain(); math.Abs(g-cal.GainPerSend) > 1e-12*cal.GainPerSend {
		return nil, fmt.Errorf("calib: corrected: the device's nominal gain %g differs from the calibration's %g", g, cal.GainPerSend)
	}
	return &Corrected{inner: d, cal: cal, opt: o, digest: cal.Digest()}, nil
}

// Inner returns the wrapped device.
func (d *Corrected) Inner() analogmac.Device { return d.inner }

// Kinds of the devices this package builds, as their Specs name them.
const (
	KindCalibrated        = "calibrated"
	KindCalibratedWeights = "calibrated-weights"
	KindTwin              = "twin"
)

// Spec implements analogmac.Describer.
func (d *Corrected) Spec() analogmac.Spec {
	base := analogmac.Describe(d.inner)
	kind := KindCalibrated
	if d.opt.Weights {
		kind = KindCalibratedWeights
	}
	return analogmac.Spec{Kind: kind, GainPerSend: base.GainPerSend, NoiseStd: base.NoiseStd, Base: &base, Calibration: d.digest}
}

// Gain implements analogmac.Device: the wrapped device's nominal gain.
func (d *Corrected) Gain() float64 { return d.inner.Gain() }

// Close implements analogmac.Device: it closes the wrapped device.
func (d *Corrected) Close() error { return d.inner.Close() }

// Program implements analogmac.Device.
func (d *Corrected) Program(ctx context.Context, m analogmac.Matrix) (analogmac.Program, error) {
	if err := analogmac.Check(m); err != nil {
		return nil, err
	}
	tiles, err := analogmac.Tiles(m.Rows, m.Cols, m.Placement)
	if err != nil {
		return nil, err
	}
	nct := (m.Cols + analogmac.BlockCols - 1) / analogmac.BlockCols
	p := &correctedProgram{d: d, tiles: tiles, nct: nct, phys: make([]int, m.Cols)}
	for _, tl := range tiles[:nct] {
		for c := tl.Col0; c < tl.Col1; c++ {
			p.phys[c] = tl.PhysCol + c - tl.Col0
		}
	}
	w := m.Weights
	m.Weights = nil
	p.m = m
	nb := (m.Rows + analogmac.BlockRows - 1) / analogmac.BlockRows
	for b := range nb {
		r0, r1 := b*analogmac.BlockRows, min((b+1)*analogmac.BlockRows, m.Rows)
		sub := analogmac.Matrix{Rows: r1 - r0, Cols: m.Cols, Weights: p.blockWeights(w, b), Sends: m.Sends, Placement: m.Placement}
		bp, err := d.inner.Program(ctx, sub)
		if err != nil {
			_ = p.Close()
			return nil, err
		}
		p.blocks = append(p.blocks, bp)
	}
	return p, nil
}

type correctedProgram struct {
	d      *Corrected
	m      analogmac.Matrix
	tiles  []analogmac.Tile
	nct    int
	phys   []int // physical column of each logical column
	blocks []analogmac.Program

	mu     sync.Mutex
	closed bool
	xb     []uint8
	yb     []int8
	tot    []float64
}

// blockWeights returns row block b's weights, divided by their synapse
// factors when the options say so.
func (p *correctedProgram) blockWeights(w []int8, b int) []int8 {
	cols := p.m.Cols
	r0, r1 := b*analogmac.BlockRows, min((b+1)*analogmac.BlockRows, p.m.Rows)
	out := make([]int8, (r1-r0)*cols)
	copy(out, w[r0*cols:r1*cols])
	syn := p.d.cal.Synapses
	if !p.d.opt.Weights || syn == nil {
		return out
	}
	for _, tl := range p.tiles[b*p.nct : (b+1)*p.nct] {
		for r := tl.Row0; r < tl.Row1; r++ {
			pr := tl.PhysRow + r - tl.Row0
			for c := tl.Col0; c < tl.Col1; c++ {
				i := (r-r0)*cols + c
				v := out[i]
				if v == 0 {
					continue
				}
				f := syn.Factor(pr, p.phys[c], v)
				q := math.Round(float64(v) / math.Max(f, 1e-3))
				out[i] = int8(max(-analogmac.WeightMax, min(analogmac.WeightMax, q)))
			}
		}
	}
	return out
}

// Matrix implements analogmac.Program.
func (p *correctedProgram) Matrix() analogmac.Matrix { return p.m }

// Close implements analogmac.Program.
func (p *correctedProgram) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for _, b := range p.blocks {
		errs = append(errs, b.Close())
	}
	p.blocks = nil
	return errors.Join(errs...)
}

// Update implements analogmac.Updater when every block's program does;
// otherwise it programs the blocks anew.
func (p *correctedProgram) Update(ctx context.Context, w []int8) error {
	m := p.m
	m.Weights = w
	if err := analogmac.Check(m); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("calib: corrected: update: %w", analogmac.ErrClosed)
	}
	for b, bp := range p.blocks {
		bw := p.blockWeights(w, b)
		if u, ok := bp.(analogmac.Updater); ok {
			if err := u.Update(ctx, bw); err != nil {
				return err
			}
			continue
		}
		sub := bp.Matrix()
		sub.Weights = bw
		np, err := p.d.inner.Program(ctx, sub)
		if err != nil {
			return err
		}
		_ = bp.Close()
		p.blocks[b] = np
	}
	return nil
}

// Run implements analogmac.Program.
func (p *correctedProgram) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, cols := p.m.Rows, p.m.Cols
	if err := analogmac.CheckRun(dst, x, batch, rows, cols); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("calib: corrected: run: %w", analogmac.ErrClosed)
	}
	cal := p.d.cal
	p.yb = grow(p.yb, batch*cols)
	p.tot = grow(p.tot, batch*cols)
	clear(p.tot)
	for b, bp := range p.blocks {
		r0, r1 := b*analogmac.BlockRows, min((b+1)*analogmac.BlockRows, rows)
		xb, key := x, noise
		if len(p.blocks) > 1 {
			n := r1 - r0
			p.xb = grow(p.xb, batch*n)
			for i := range batch {
				copy(p.xb[i*n:(i+1)*n], x[i*rows+r0:i*rows+r1])
			}
			xb, key = p.xb, splitKey(blockStream^noise, uint64(b))
		}
		if err := bp.Run(ctx, p.yb, xb, batch, key); err != nil {
			return err
		}
		for i, y := range p.yb {
			col := &cal.Columns[p.phys[i%cols]]
			z := (unsat(float64(y)+floorBias, col.Pos, col.Neg) - col.Offset) / col.Gain
			p.tot[i] += clampOut(math.Floor(z))
		}
	}
	for i, v := range p.tot {
		dst[i] = int8(clampOut(v))
	}
	return nil
}

// grow returns s resliced to n, or a new slice when s is too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
