package calib

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/analogloop/analogloop/analogmac"
)

// Twin is a digital twin of a characterised chip: a device built from a
// calibration alone, that computes every block output with the fitted
// per-column model (gain, offset, saturation of each branch, Gaussian
// trial noise of the fitted std) and, when the calibration has them, the
// measured synapse factors. It is what Klein et al. (2021) built for
// BrainScaleS-2 with lookup tables and splines; here the model is the
// parametric one of model.go.
//
// A Twin's trial noise is a pure function of the noise key, as the
// simulated devices' is (see analogmac's contract); it uses its own
// generator, so a twin and its chip never share noise. It describes itself
// as kind KindTwin with the characterised device as Base and the
// calibration's Digest.
type Twin struct {
	cal    *Calibration
	digest string // cal.Digest(), computed once
	closed atomic.Bool
}

// NewTwin builds the twin of cal, which it validates.
func NewTwin(cal *Calibration) (*Twin, error) {
	if err := cal.Validate(); err != nil {
		return nil, fmt.Errorf("calib: twin: %w: %v", ErrInvalid, err)
	}
	return &Twin{cal: cal, digest: cal.Digest()}, nil
}

// Gain implements analogmac.Device: the nominal gain of the characterised
// device.
func (t *Twin) Gain() float64 { return t.cal.GainPerSend }

// Spec implements analogmac.Describer. NoiseStd is the columns' mean
// fitted trial noise (each column has its own).
func (t *Twin) Spec() analogmac.Spec {
	base := t.cal.Device
	var noise float64
	for _, c := range t.cal.Columns {
		noise += c.Noise
	}
	return analogmac.Spec{Kind: KindTwin, GainPerSend: t.cal.GainPerSend, NoiseStd: noise / float64(len(t.cal.Columns)),
		Base: &base, Calibration: t.digest}
}

// Calibration returns the calibration the twin was built from.
func (t *Twin) Calibration() *Calibration { return t.cal }

// Close implements analogmac.Device.
func (t *Twin) Close() error { t.closed.Store(true); return nil }

// Program implements analogmac.Device.
func (t *Twin) Program(ctx context.Context, m analogmac.Matrix) (analogmac.Program, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.closed.Load() {
		return nil, fmt.Errorf("calib: twin: program: %w", analogmac.ErrClosed)
	}
	if err := analogmac.Check(m); err != nil {
		return nil, err
	}
	tiles, err := analogmac.Tiles(m.Rows, m.Cols, m.Placement)
	if err != nil {
		return nil, err
	}
	p := &twinProgram{t: t, tiles: tiles, w: make([]float32, m.Rows*m.Cols),
		scale: make([]float64, m.Cols), off: make([]float64, m.Cols), noise: make([]float64, m.Cols),
		pos: make([]Branch, m.Cols), neg: make([]Branch, m.Cols)}
	k := t.cal.GainPerSend * float64(m.Sends)
	nct := (m.Cols + analogmac.BlockCols - 1) / analogmac.BlockCols
	for _, tl := range tiles[:nct] {
		for c := tl.Col0; c < tl.Col1; c++ {
			col := t.cal.Columns[tl.PhysCol+c-tl.Col0]
			p.scale[c], p.off[c], p.noise[c], p.pos[c], p.neg[c] = k*col.Gain, col.Offset, col.Noise, col.Pos, col.Neg
		}
	}
	w := m.Weights
	m.Weights = nil
	p.m = m
	p.prepare(w)
	return p, nil
}

type twinProgram struct {
	t     *Twin
	m     analogmac.Matrix
	tiles []analogmac.Tile
	w     []float32 // effective weights, Rows x Cols
	// per logical column
	scale, off, noise []float64
	pos, neg          []Branch

	mu     sync.Mutex
	closed bool
	x, acc []float32
}

// prepare writes w times the synapse factors of the synapses it occupies
// into p.w.
func (p *twinProgram) prepare(w []int8) {
	syn := p.t.cal.Synapses
	cols := p.m.Cols
	for _, tl := range p.tiles {
		for r := tl.Row0; r < tl.Row1; r++ {
			pr := tl.PhysRow + r - tl.Row0
			for c := tl.Col0; c < tl.Col1; c++ {
				v := w[r*cols+c]
				f := 1.0
				if syn != nil {
					f = syn.Factor(pr, tl.PhysCol+c-tl.Col0, v)
				}
				p.w[r*cols+c] = float32(float64(v) * f)
			}
		}
	}
}

// Matrix implements analogmac.Program.
func (p *twinProgram) Matrix() analogmac.Matrix { return p.m }

// Close implements analogmac.Program.
func (p *twinProgram) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.w, p.x, p.acc = nil, nil, nil
	return nil
}

// Update implements analogmac.Updater.
func (p *twinProgram) Update(ctx context.Context, w []int8) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m := p.m
	m.Weights = w
	if err := analogmac.Check(m); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.t.closed.Load() {
		return fmt.Errorf("calib: twin: update: %w", analogmac.ErrClosed)
	}
	p.prepare(w)
	return nil
}

// chunkRows is the number of batch rows whose noise comes from one
// stream: part of the definition of a twin's noise.
const chunkRows = 8

// Run implements analogmac.Program.
func (p *twinProgram) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, cols := p.m.Rows, p.m.Cols
	if err := analogmac.CheckRun(dst, x, batch, rows, cols); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.t.closed.Load() {
		return fmt.Errorf("calib: twin: run: %w", analogmac.ErrClosed)
	}
	p.x = grow(p.x, len(x))
	for i, v := range x {
		p.x[i] = float32(v)
	}
	nb := (rows + analogmac.BlockRows - 1) / analogmac.BlockRows
	plane := batch * cols
	p.acc = grow(p.acc, nb*plane)
	for b := range nb {
		r0 := b * analogmac.BlockRows
		r1 := min(r0+analogmac.BlockRows, rows)
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas32.General{Rows: batch, Cols: r1 - r0, Stride: rows, Data: p.x[r0:]},
			blas32.General{Rows: r1 - r0, Cols: cols, Stride: cols, Data: p.w[r0*cols:]},
			0, blas32.General{Rows: batch, Cols: cols, Stride: cols, Data: p.acc[b*plane : (b+1)*plane]})
	}
	chunks := (batch + chunkRows - 1) / chunkRows
	var next atomic.Int64
	work := func() {
		tot := make([]float64, cols)
		// One generator per worker, reseeded for every chunk: the same
		// draws as a new PCG(noise, key) per chunk, without allocating.
		var src rand.PCG
		rng := rand.New(&src)
		for {
			ch := int(next.Add(1) - 1)
			if ch >= chunks {
				return
			}
			src.Seed(noise, splitKey(twinStream, uint64(ch)))
			for i := ch * chunkRows; i < min(batch, (ch+1)*chunkRows); i++ {
				clear(tot)
				for b := range nb {
					acc := p.acc[b*plane+i*cols:][:cols]
					for c, a := range acc {
						v := p.scale[c]*float64(a) + p.off[c] + p.noise[c]*rng.NormFloat64()
						tot[c] += clampOut(math.Floor(sat(v, p.pos[c], p.neg[c])))
					}
				}
				out := dst[i*cols:][:cols]
				for c, v := range tot {
					out[c] = int8(clampOut(v))
				}
			}
		}
	}
	workers := 1
	if nb*batch*cols >= 8192 {
		workers = min(runtime.GOMAXPROCS(0), chunks)
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return nil
}

// Streams of derived keys, so that a twin's noise and a corrected
// device's block keys are unrelated to anything else seeded alike.
const (
	twinStream  = 0x7477696e // "twin"
	blockStream = 0x626c6b   // "blk"
)

// splitKey derives an independent 64-bit value from a stream and an index
// (a splitmix64 finaliser).
func splitKey(stream, i uint64) uint64 {
	z := stream*0x9e3779b97f4a7c15 + i + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
