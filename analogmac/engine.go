package analogmac

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// noiseChunkRows is the number of batch rows whose trial noise comes from
// one random stream. It is part of the definition of the noise: changing it
// changes every noisy output for a given seed (the golden test notices), but
// the number of goroutines never does.
const noiseChunkRows = 8

// parallelMinOutputs is the number of block outputs below which a call
// finishes on the calling goroutine: starting workers costs more than it
// saves for small products such as a 128 x 10 output layer.
const parallelMinOutputs = 8192

// Streams of the PCG generators: the second PCG seed word, so that a chip
// seed and a noise seed of the same value still give unrelated streams.
const (
	chipStream  = 0x616e616c6f67 // "analog"
	noiseStream = 0x6e6f697365   // "noise"
)

// post says how a device turns a block's analog sum into its digitised
// output; each kind has its own loop so that no per-element call or switch
// stands in the hot path.
type post int

const (
	postIdeal post = iota // floor(k * a)
	postMock              // floor(k * a + noise)
	postChip              // floor(sat(k_c * a + offset_c + noise))
)

// program is the Program of the simulated devices: the matrix prepared
// once at programming (weights as float32, with the chip's synapse mismatch
// folded in; per-column gain, offset and linear range), and what a run
// reuses from call to call. mu serialises runs of one program, so a program
// may be shared between goroutines.
type program struct {
	kind    post
	m       Matrix  // shape, sends, placement; Weights nil
	k       float64 // postIdeal, postMock: gain * sends
	std     float64 // trial noise, LSB
	invHead float64 // postChip: 1 / saturation headroom
	closed  func() bool
	// prepare writes the effective weights of w into p.w (and the chip's
	// per-column parameters): at programming and at every Update.
	prepare func(p *program, w []int8)

	w []float32 // Rows x Cols effective weights
	// Per logical output column, filled by the chip for the placement.
	colScale, colOff, colLin []float64

	mu       sync.Mutex
	released bool
	x        []float32 // Batch x Rows inputs
	acc      []float32 // one Batch x Cols product per row block
	workers  []*worker
}

// worker is one goroutine's noise stream, reseeded for every chunk, and its
// row of sums.
type worker struct {
	rng   normals
	tot   []int32   // one output row of block sums
	noise []float64 // one output row of standard normal numbers
}

// newProgram validates m and returns a program whose weights prepare
// (nil: convert to float32 unchanged, as Ideal and Mock do) has written.
func newProgram(ctx context.Context, kind post, m Matrix, closed func() bool, prepare func(*program, []int8)) (*program, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if closed() {
		return nil, closedErr("program")
	}
	if err := Check(m); err != nil {
		return nil, err
	}
	if prepare == nil {
		prepare = convertWeights
	}
	p := &program{kind: kind, closed: closed, prepare: prepare, w: make([]float32, len(m.Weights))}
	w := m.Weights
	m.Weights = nil
	p.m = m
	prepare(p, w)
	return p, nil
}

// convertWeights writes w as float32 into p.w.
func convertWeights(p *program, w []int8) {
	parallel(len(w), 1, func(lo, hi int) {
		for i, v := range w[lo:hi] {
			p.w[lo+i] = float32(v)
		}
	})
}

// Update implements Updater.
func (p *program) Update(ctx context.Context, w []int8) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m := p.m
	m.Weights = w
	if err := Check(m); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released || p.closed() {
		return closedErr("update")
	}
	p.prepare(p, w)
	return nil
}

// Matrix implements Program.
func (p *program) Matrix() Matrix { return p.m }

// Close implements Program.
func (p *program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.released = true
	p.w, p.x, p.acc, p.workers = nil, nil, nil, nil
	return nil
}

// Run implements Program.
func (p *program) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckRun(dst, x, batch, p.m.Rows, p.m.Cols); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released || p.closed() {
		return closedErr("run")
	}
	s := Shape{Batch: batch, Rows: p.m.Rows, Cols: p.m.Cols}
	p.load(x)
	nb := p.products(s)
	p.finish(dst, s, nb, noise)
	return nil
}

// load converts the inputs to float32 (exact) into p.x.
func (p *program) load(x []uint8) {
	p.x = grow(p.x, len(x))
	parallel(len(x), 1, func(lo, hi int) {
		for i, v := range x[lo:hi] {
			p.x[lo+i] = float32(v)
		}
	})
}

// parallelMin is the number of elements below which parallel stays on the
// calling goroutine.
const parallelMin = 16384

// parallel calls f on contiguous parts of [0, n), one per processor when
// the n items of size elements each are enough work. f must write disjoint
// outputs and draw no random numbers: how the range is cut must not matter.
func parallel(n, size int, f func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), n*size/parallelMin, n)
	if parts <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := 1; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(p*n/parts, (p+1)*n/parts)
		}()
	}
	f(0, n/parts)
	wg.Wait()
}

// products computes x[:, blk] @ w[blk, :] for every row block into p.acc and
// returns the number of blocks. Integer products of 5-bit inputs and 6-bit
// weights summed over at most BlockRows rows stay below 2^24, so float32 is
// exact for integer weights. gonum splits a product over goroutines by
// output blocks only, so each sum is added in the same order whatever
// GOMAXPROCS is.
func (p *program) products(s Shape) int {
	nb := (s.Rows + BlockRows - 1) / BlockRows
	plane := s.Batch * s.Cols
	p.acc = grow(p.acc, nb*plane)
	for k := range nb {
		r0 := k * BlockRows
		r1 := min(r0+BlockRows, s.Rows)
		a := blas32.General{Rows: s.Batch, Cols: r1 - r0, Stride: s.Rows, Data: p.x[r0:]}
		b := blas32.General{Rows: r1 - r0, Cols: s.Cols, Stride: s.Cols, Data: p.w[r0*s.Cols:]}
		c := blas32.General{Rows: s.Batch, Cols: s.Cols, Stride: s.Cols, Data: p.acc[k*plane : (k+1)*plane]}
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c)
	}
	return nb
}

// finish digitises every block output, adds the blocks and writes dst. Work
// is split into chunks of noiseChunkRows batch rows; chunk i draws its noise
// from the stream seeded with seed ^ mix64(i), in the order batch row, row
// block, column, so the result does not depend on which goroutine runs
// which chunk.
func (p *program) finish(dst []int8, s Shape, nb int, seed uint64) {
	chunks := (s.Batch + noiseChunkRows - 1) / noiseChunkRows
	nw := 1
	if nb*s.Batch*s.Cols >= parallelMinOutputs {
		nw = min(runtime.GOMAXPROCS(0), chunks)
	}
	for len(p.workers) < nw {
		p.workers = append(p.workers, &worker{})
	}
	for _, wk := range p.workers[:nw] {
		wk.tot = grow(wk.tot, s.Cols)
		wk.noise = grow(wk.noise, s.Cols)
	}
	run := func(wk *worker, next *atomic.Int64) {
		for {
			ch := int(next.Add(1) - 1)
			if ch >= chunks {
				return
			}
			b0 := ch * noiseChunkRows
			b1 := min(b0+noiseChunkRows, s.Batch)
			wk.rng.seed(seed ^ mix64(uint64(ch)))
			switch p.kind {
			case postIdeal:
				p.finishIdeal(dst, s, nb, b0, b1, wk.tot[:s.Cols])
			case postMock:
				p.finishMock(dst, s, nb, b0, b1, wk)
			case postChip:
				p.finishChip(dst, s, nb, b0, b1, wk)
			}
		}
	}
	var next atomic.Int64
	if nw == 1 {
		run(p.workers[0], &next)
		return
	}
	var wg sync.WaitGroup
	for _, wk := range p.workers[1:nw] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(wk, &next)
		}()
	}
	run(p.workers[0], &next)
	wg.Wait()
}

// The finish loops run over batch rows, then row blocks, then columns, adding
// each block's digitised outputs into tot (one row of int32 sums), so that
// every read of acc is sequential. Noise is drawn in the same order.

func (p *program) finishIdeal(dst []int8, s Shape, nb, b0, b1 int, tot []int32) {
	k := p.k
	plane := s.Batch * s.Cols
	for b := b0; b < b1; b++ {
		row := b * s.Cols
		clear(tot)
		for blk := range nb {
			acc := p.acc[blk*plane+row:][:len(tot)]
			for c, a := range acc {
				tot[c] += clampOut(math.Floor(k * float64(a)))
			}
		}
		store(dst[row:][:len(tot)], tot)
	}
}

func (p *program) finishMock(dst []int8, s Shape, nb, b0, b1 int, wk *worker) {
	k, std := p.k, p.std
	tot, noise := wk.tot[:s.Cols], wk.noise[:s.Cols]
	if std == 0 {
		// No draws: Mock with zero noise is Ideal, bit for bit.
		p.finishIdeal(dst, s, nb, b0, b1, tot)
		return
	}
	plane := s.Batch * s.Cols
	for b := b0; b < b1; b++ {
		row := b * s.Cols
		clear(tot)
		for blk := range nb {
			acc := p.acc[blk*plane+row:][:len(tot)]
			wk.rng.fill(noise)
			for c, a := range acc {
				tot[c] += clampOut(math.Floor(k*float64(a) + std*noise[c]))
			}
		}
		store(dst[row:][:len(tot)], tot)
	}
}

func (p *program) finishChip(dst []int8, s Shape, nb, b0, b1 int, wk *worker) {
	std, invHead := p.std, p.invHead
	plane := s.Batch * s.Cols
	n := s.Cols
	tot, noise := wk.tot[:n], wk.noise[:n]
	scale, off, lin := p.colScale[:n], p.colOff[:n], p.colLin[:n]
	for b := b0; b < b1; b++ {
		row := b * s.Cols
		clear(tot)
		for blk := range nb {
			acc := p.acc[blk*plane+row:][:n]
			if std == 0 {
				for c, a := range acc {
					v := scale[c]*float64(a) + off[c]
					tot[c] += clampOut(math.Floor(saturate(v, lin[c], invHead)))
				}
				continue
			}
			wk.rng.fill(noise)
			for c, a := range acc {
				v := scale[c]*float64(a) + off[c] + std*noise[c]
				tot[c] += clampOut(math.Floor(saturate(v, lin[c], invHead)))
			}
		}
		store(dst[row:][:n], tot)
	}
}

// store clamps the digital sums of the row blocks into dst.
func store(dst []int8, tot []int32) {
	for c, t := range tot {
		dst[c] = int8(min(OutputMax, max(OutputMin, t)))
	}
}

// saturate is the identity for |v| <= lin and compresses smoothly beyond:
// lin + d/(1+d/head) with d = |v|-lin, whose slope is 1 at d = 0 (so the
// curve is C1) and which tends to lin+head. invHead is 1/head. One division,
// and only for saturated outputs: cheaper than a tanh per output.
func saturate(v, lin, invHead float64) float64 {
	switch {
	case v > lin:
		d := v - lin
		return lin + d/(1+d*invHead)
	case v < -lin:
		d := -lin - v
		return -lin - d/(1+d*invHead)
	}
	return v
}

// golden64 is 2^64 divided by the golden ratio, SplitMix64's increment.
const golden64 = 0x9e3779b97f4a7c15

// mix64 scrambles a chunk index into the second word of a PCG seed, so that
// neighbouring chunks start from unrelated states (a splitmix64 finaliser).
func mix64(z uint64) uint64 {
	z += golden64
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func clampOut(v float64) int32 {
	if v < OutputMin {
		return OutputMin
	}
	if v > OutputMax {
		return OutputMax
	}
	return int32(v)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
