package analogmac

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/analogloop/analogloop/internal/par"
	"github.com/analogloop/analogloop/internal/sgemm"
)

// noiseChunkRows is the number of batch rows whose trial noise comes from
// one random stream. It is part of the definition of the noise: changing it
// changes every noisy output for a given seed (the golden test notices), but
// the number of goroutines never does.
const noiseChunkRows = 8

// parallelMinWork is the amount of work, in multiply-accumulates plus
// weighted block outputs, below which a run stays on the calling
// goroutine: waking a helper costs a few microseconds, more than it saves
// for small products such as a 128 x 10 output layer.
const parallelMinWork = 1 << 17

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
	// per-column parameters): at programming, and at an Update that changes
	// many weights. weightAt is the effective weight of value v at index i,
	// for an Update that changes few.
	prepare  func(p *program, w []int8)
	weightAt func(i int, v int8) float32

	w       []float32 // Rows x Cols effective weights
	q       []int8    // the weights programmed
	changed []int32   // scratch of Update: indices of changed weights
	// Per logical output column, filled by the chip for the placement.
	colScale, colOff, colLin []float64

	mu       sync.Mutex
	released bool
	run      runBody
	parts    []*part
	conv     convertBody
	place    placeBody
}

// part is what one part of a run works in: the block sums of one group of
// chunks, a noise stream reseeded for every chunk, and one output row of
// block sums.
type part struct {
	acc   []float32 // row block x group rows x Cols
	rng   normals
	tot   []int32   // one output row of block sums
	noise []float64 // the group's standard normal numbers
}

// newProgram validates m and returns a program whose weights prepare
// (nil: convert to float32 unchanged, as Ideal and Mock do) has written;
// weightAt computes one effective weight the same way (nil with prepare).
func newProgram(ctx context.Context, kind post, m Matrix, closed func() bool, prepare func(*program, []int8), weightAt func(int, int8) float32) (*program, error) {
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
		weightAt = func(_ int, v int8) float32 { return float32(v) }
	}
	p := &program{kind: kind, closed: closed, prepare: prepare, weightAt: weightAt, w: make([]float32, len(m.Weights))}
	w := m.Weights
	m.Weights = nil
	p.m = m
	p.q = slices.Clone(w)
	prepare(p, w)
	return p, nil
}

// convertWeights writes w as float32 into p.w.
func convertWeights(p *program, w []int8) {
	p.conv = convertBody{dst: p.w, src: w, parts: parts(len(w), 1<<15)}
	par.For(p.conv.parts, &p.conv)
	p.conv = convertBody{}
}

type convertBody struct {
	dst   []float32
	src   []int8
	parts int
}

func (b *convertBody) Do(i int) {
	lo, hi := par.Split(len(b.src), b.parts, 64, i)
	for j, v := range b.src[lo:hi] {
		b.dst[lo+j] = float32(v)
	}
}

// parts is how many parts n items are worth when each part should hold at
// least least of them: at most a few per processor, so that a busy
// processor does not hold up the others.
func parts(n, least int) int {
	return max(1, min(n/least, 4*par.Procs()))
}

// Update implements Updater. Training changes a few weights per step, so
// Update compares w with the weights programmed and prepares only those
// that differ (checking their range: the others were checked before),
// unless many do.
func (p *program) Update(ctx context.Context, w []int8) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(w) != len(p.w) || !p.diff(w) {
		m := p.m
		m.Weights = w
		if err := Check(m); err != nil {
			return err
		}
	}
	if p.released || p.closed() {
		return closedErr("update")
	}
	if len(p.changed) > len(w)/8 {
		p.prepare(p, w)
		copy(p.q, w)
		return nil
	}
	for _, i := range p.changed {
		p.w[i] = p.weightAt(int(i), w[i])
		p.q[i] = w[i]
	}
	return nil
}

// diff collects the indices where w differs from the programmed weights
// into p.changed, and reports whether all of those are in range. Equal
// 8-byte words are skipped at once.
func (p *program) diff(w []int8) bool {
	p.changed = p.changed[:0]
	q := p.q
	n := len(w) &^ 7
	for i := 0; i < n; i += 8 {
		a := binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Pointer(&w[i])), 8))
		b := binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Pointer(&q[i])), 8))
		if a == b {
			continue
		}
		for j := i; j < i+8; j++ {
			if w[j] != q[j] {
				p.changed = append(p.changed, int32(j))
			}
		}
	}
	for j := n; j < len(w); j++ {
		if w[j] != q[j] {
			p.changed = append(p.changed, int32(j))
		}
	}
	for _, i := range p.changed {
		if v := w[i]; v > WeightMax || v < -WeightMax {
			return false
		}
	}
	return true
}

// Matrix implements Program.
func (p *program) Matrix() Matrix { return p.m }

// Close implements Program.
func (p *program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.released = true
	p.w, p.parts = nil, nil
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
	p.execute(dst, x, batch, noise)
	return nil
}

// execute computes a run chunk by chunk of noiseChunkRows batch rows: the
// products of the chunk's rows with every row block (sgemm, the float32
// arithmetic of gonum's Gemm bit for bit), then their digitisation with
// the chunk's noise, while the sums are still in the cache. Chunk i draws
// its noise from the stream seeded with seed ^ mix64(i), in the order
// batch row, row block, column, so the result does not depend on which
// goroutine runs which chunk. Float32 is exact for Ideal and Mock (integer
// products of 5-bit inputs and 6-bit weights summed over at most BlockRows
// rows stay below 2^24); for the chip the order of the float32 sums is
// part of its definition.
func (p *program) execute(dst []int8, x []uint8, batch int, seed uint64) {
	s := Shape{Batch: batch, Rows: p.m.Rows, Cols: p.m.Cols}
	nb := (s.Rows + BlockRows - 1) / BlockRows
	// Chunks are computed in groups of up to groupRows rows whose sums fit
	// in the L1 cache: one product call per row block and group amortises
	// the calls' overhead over narrow outputs.
	groupRows := noiseChunkRows * max(1, min(16, (32<<10)/(4*nb*s.Cols*noiseChunkRows)))
	groups := (batch + groupRows - 1) / groupRows
	work := batch * s.Cols * (s.Rows + 16*nb)
	n := 1
	if work >= parallelMinWork {
		n = min(groups, 4*par.Procs())
	}
	for len(p.parts) < n {
		p.parts = append(p.parts, &part{})
	}
	for _, pt := range p.parts[:n] {
		pt.acc = grow(pt.acc, nb*groupRows*s.Cols)
		pt.tot = grow(pt.tot, s.Cols)
		if p.kind != postIdeal && p.std != 0 {
			pt.noise = grow(pt.noise, min(groupRows, noiseChunkRows*noiseChunks(nb*s.Cols))*nb*s.Cols)
		}
	}
	p.run = runBody{p: p, dst: dst, x: x, s: s, nb: nb, seed: seed, groupRows: groupRows, groups: groups, parts: n}
	par.For(n, &p.run)
	p.run = runBody{}
}

// runBody is one Run as a parallel loop over parts, each a range of groups
// of chunks.
type runBody struct {
	p         *program
	dst       []int8
	x         []uint8
	s         Shape
	nb        int
	seed      uint64
	groupRows int
	groups    int
	parts     int
}

func (r *runBody) Do(i int) {
	g0, g1 := par.Split(r.groups, r.parts, 1, i)
	pt := r.p.parts[i]
	for g := g0; g < g1; g++ {
		r.p.group(pt, r.dst, r.x, r.s, r.nb, g*r.groupRows, min((g+1)*r.groupRows, r.s.Batch), r.groupRows, r.seed)
	}
}

// group computes the block sums of batch rows [b0, b1) (whole chunks), then
// draws their noise chunk by chunk and digitises them.
func (p *program) group(pt *part, dst []int8, x []uint8, s Shape, nb, b0, b1, groupRows int, seed uint64) {
	plane := groupRows * s.Cols
	for blk := range nb {
		r0 := blk * BlockRows
		r1 := min(r0+BlockRows, s.Rows)
		sgemm.MulU8Serial(b1-b0, s.Cols, r1-r0, x[b0*s.Rows+r0:], s.Rows, p.w[r0*s.Cols:], s.Cols, pt.acc[blk*plane:], s.Cols)
	}
	// The noise of every chunk of the group, each from its own stream, in
	// the chunk's order of batch row, row block, column. The chunks are
	// digitised a few at a time, right after their noise is drawn, while
	// the normals are still in the L1 cache (a wide group's noise would
	// not fit there).
	n := s.Cols * nb
	if p.kind == postIdeal || p.std == 0 {
		p.finish(dst, s, nb, b0, b1, pt.acc, plane, pt.tot, nil)
		return
	}
	step := noiseChunkRows * noiseChunks(n)
	for f0 := b0; f0 < b1; f0 += step {
		f1 := min(f0+step, b1)
		noise := pt.noise[:(f1-f0)*n]
		for c0 := f0; c0 < f1; c0 += noiseChunkRows {
			c1 := min(c0+noiseChunkRows, f1)
			pt.rng.seed(seed ^ mix64(uint64(c0/noiseChunkRows)))
			pt.rng.fill(noise[(c0-f0)*n : (c1-f0)*n])
		}
		p.finish(dst, s, nb, f0, f1, pt.acc[(f0-b0)*s.Cols:], plane, pt.tot, noise)
	}
}

// noiseChunks is how many chunks of n outputs per batch row have their
// noise drawn before they are digitised: as many as fit in 16 KB, and at
// least one.
func noiseChunks(n int) int {
	return max(1, (16<<10)/(8*noiseChunkRows*n))
}

// finish digitises batch rows [b0, b1): their block sums are in sums (row
// b0 first), the row blocks plane values apart; noise holds their normals
// in draw order (nil without noise).
func (p *program) finish(dst []int8, s Shape, nb, b0, b1 int, sums []float32, plane int, tot []int32, noise []float64) {
	if p.finishVector(dst, s, nb, b0, b1, sums, plane, tot, noise) {
		return
	}
	switch p.kind {
	case postIdeal:
		p.finishIdeal(dst, s, nb, b0, b1, sums, plane, tot)
	case postMock:
		p.finishMock(dst, s, nb, b0, b1, sums, plane, tot, noise)
	case postChip:
		p.finishChip(dst, s, nb, b0, b1, sums, plane, tot, noise)
	}
}

// The finish loops run over batch rows, then row blocks, then columns, adding
// each block's digitised outputs into tot (one row of int32 sums). Every
// product is converted to float64 explicitly so that no compiler fuses it
// into an FMA: the outputs are the same on every machine and with the
// AVX-512 loops of finish_amd64.s.

func (p *program) finishIdeal(dst []int8, s Shape, nb, b0, b1 int, sums []float32, plane int, tot []int32) {
	k := p.k
	tot = tot[:s.Cols]
	for b := b0; b < b1; b++ {
		row := b * s.Cols
		clear(tot)
		for blk := range nb {
			acc := sums[blk*plane+(b-b0)*s.Cols:][:len(tot)]
			for c, a := range acc {
				tot[c] += clampOut(math.Floor(k * float64(a)))
			}
		}
		store(dst[row:][:len(tot)], tot)
	}
}

func (p *program) finishMock(dst []int8, s Shape, nb, b0, b1 int, sums []float32, plane int, tot []int32, noise []float64) {
	if p.std == 0 {
		// No draws: Mock with zero noise is Ideal, bit for bit.
		p.finishIdeal(dst, s, nb, b0, b1, sums, plane, tot)
		return
	}
	k, std := p.k, p.std
	n := s.Cols
	tot = tot[:n]
	for b := b0; b < b1; b++ {
		clear(tot)
		for blk := range nb {
			acc := sums[blk*plane+(b-b0)*n:][:n]
			z := noise[((b-b0)*nb+blk)*n:][:n]
			for c, a := range acc {
				tot[c] += clampOut(math.Floor(float64(k*float64(a)) + float64(std*z[c])))
			}
		}
		store(dst[b*n:][:n], tot)
	}
}

func (p *program) finishChip(dst []int8, s Shape, nb, b0, b1 int, sums []float32, plane int, tot []int32, noise []float64) {
	std, invHead := p.std, p.invHead
	n := s.Cols
	tot = tot[:n]
	scale, off, lin := p.colScale[:n], p.colOff[:n], p.colLin[:n]
	for b := b0; b < b1; b++ {
		clear(tot)
		for blk := range nb {
			acc := sums[blk*plane+(b-b0)*n:][:n]
			if std == 0 {
				for c, a := range acc {
					v := float64(scale[c]*float64(a)) + off[c]
					tot[c] += clampOut(math.Floor(saturate(v, lin[c], invHead)))
				}
				continue
			}
			z := noise[((b-b0)*nb+blk)*n:][:n]
			for c, a := range acc {
				v := float64(scale[c]*float64(a)) + off[c] + float64(std*z[c])
				tot[c] += clampOut(math.Floor(saturate(v, lin[c], invHead)))
			}
		}
		store(dst[b*n:][:n], tot)
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
		return lin + d/(1+float64(d*invHead))
	case v < -lin:
		d := -lin - v
		return -lin - d/(1+float64(d*invHead))
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
