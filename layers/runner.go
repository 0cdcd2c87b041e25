package layers

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/internal/par"
	"github.com/analogloop/analogloop/internal/sgemm"
)

// Runner executes a sequence of this package's layers forward and, for
// training, backward through a softmax cross-entropy, on buffers it owns
// and without Gorgonia's machine. It computes what the Gorgonia graph of
// the same layers computes, bit for bit: the same device calls in the same
// order with the same noise keys, the same float32 operations in the same
// order for every gradient (models tests both executors against each
// other). It is faster because it skips the machine's bookkeeping and the
// conversions between ops: on a device, activations stay 5-bit integers
// from one analog layer to the next (the ConvertingReLU writes them
// directly), a convolution's patches are cut from 5-bit inputs, and the
// weight gradients read those inputs as they are.
//
// A Runner handles Conv2d, Dense, ConvertingReLU and Flatten; on a device
// it needs every analog layer's input to be the network's input or a
// ConvertingReLU's output (the rule models.Build enforces). NewRunner
// reports ErrNotRunnable for anything else, and the caller uses Gorgonia.
// A Runner is used by one goroutine at a time.
type Runner struct {
	ex      *Exec
	batch   int
	train   bool
	scale   float64 // logits to softmax
	classes int
	nodes   []*node
	in      *act
	out     *act
	t       []float32 // one-hot targets, the caller's
	probs   []float32
	loss    float64
	grads   [][]float32
	links   []analogmac.Link // a chain's runs, reused
}

// ErrNotRunnable is NewRunner's answer for layers it cannot run.
var ErrNotRunnable = errors.New("layers: not runnable without Gorgonia")

// act is one activation matrix between layers and its gradient. Which
// representations exist depends on the mode and the producer.
type act struct {
	rows, cols int
	f          []float32 // float mode; the network's input; the logits
	u          []uint8   // on a device: an analog layer's 5-bit input
	y          []int8    // on a device: an analog layer's output
	g          []float32 // gradient, where training needs it
}

type nodeKind int

const (
	kindDense nodeKind = iota
	kindConv
	kindReLU
	kindFlatten
)

type node struct {
	kind    nodeKind
	in, out *act
	// Analog layers.
	a       *Analog
	k       *Kernel
	geom    Geometry
	patches *act      // a convolution's input matrix
	gw      []float32 // weight gradient
	wt      []float32 // Wᵀ, for the input gradient
	// ConvertingReLU.
	relu *ConvertingReLU
	// needGX: some earlier layer has parameters, so the gradient must flow
	// on to this layer's input.
	needGX bool
	// fromInput: an analog layer reading the network's input.
	fromInput bool
	cut       im2colBody[uint8]
	cutF      im2colBody[float32]
	tr        transposeBody
	// On a device that runs chains (analogmac.Chainer): next is the dense
	// layer this analog layer's outputs feed through a ConvertingReLU
	// (of shift nextShift), so that one call runs both; chained marks a
	// layer that such a call runs; chainName names a chain in errors.
	next      *node
	nextShift int
	chained   bool
	chainName string
}

// transposeBody transposes a band of rows of w into t: the layer's
// weights change at every step, and their transpose would otherwise stay
// on one processor.
type transposeBody struct {
	t, w       []float32
	rows, cols int
	parts      int
}

// run transposes all of w, in parts if it is large enough to share. With
// the vector kernel (under 0.1 ns a value) dense1's 500 x 128 weights take
// about 5 µs, less than handing parts to helpers costs: one part, until a
// matrix is 16 times larger than the plain loop's threshold.
func (b *transposeBody) run() {
	per := 1 << 14
	if vectorTranspose {
		per = 1 << 18
	}
	b.parts = max(1, min(b.rows*b.cols/per, 4*par.Procs()))
	par.For(b.parts, b)
}

func (b *transposeBody) Do(i int) {
	lo, hi := par.Split(b.rows, b.parts, 16, i)
	transpose(b.t, b.w, b.rows, b.cols, lo, hi)
}

// im2colBody cuts the patches of a band of samples; pads holds a padded
// image per part (see im2colBytes), made once.
type im2colBody[T float32 | uint8] struct {
	g       Geometry
	cols, x []T
	batch   int
	parts   int
	pads    [][]T
}

// cut cuts all the patches, in parts by sample: a quarter of a
// millisecond of copying per training step otherwise stays on one
// processor. The assembly path for bytes cuts a training batch's patches
// (250 KB for MNIST) in about 11 µs, less than waking helpers costs, so
// there a part is at least 256 KB of patches.
func (b *im2colBody[T]) cut() {
	b.parts = min(b.batch, 4*par.Procs())
	var z T
	if unsafe.Sizeof(z) == 1 && vectorIm2colFits(b.g) {
		b.parts = max(1, min(b.parts, b.batch*b.g.Patches*b.g.PatchRows/(256<<10)))
	}
	for len(b.pads) < b.parts {
		b.pads = append(b.pads, make([]T, b.g.padSize()))
	}
	par.For(b.parts, b)
}

func (b *im2colBody[T]) Do(i int) {
	lo, hi := par.Split(b.batch, b.parts, 1, i)
	g := b.g
	cols, x := b.cols[lo*g.Patches*g.PatchRows:hi*g.Patches*g.PatchRows], b.x[lo*g.InputsPerSample:hi*g.InputsPerSample]
	if g.Kernel*g.C > 16 {
		im2col(g, cols, x, hi-lo)
		return
	}
	im2colBytes(g, cols, x, hi-lo, b.pads[i])
}

// NewRunner prepares ls to run in ex on batch samples of inputs values
// each, x (batch x inputs) being the caller's input buffer. With train it
// also computes the mean softmax cross-entropy of the outputs (times
// logitScale) against the one-hot targets t (batch x classes) and the
// gradients of every parameter, in the order of the layers' Params.
func NewRunner(ls []Layer, ex *Exec, batch int, x []float32, train bool, t []float32, classes int, logitScale float64) (*Runner, error) {
	if batch < 1 || len(x)%batch != 0 {
		return nil, fmt.Errorf("layers: runner: %d inputs for batch %d", len(x), batch)
	}
	r := &Runner{ex: ex, batch: batch, train: train, scale: logitScale, classes: classes, t: t}
	r.in = &act{rows: batch, cols: len(x) / batch, f: x}
	dev := !ex.Float()
	h := r.in
	params := false
	for _, l := range ls {
		n := &node{in: h}
		switch l := l.(type) {
		case *Dense:
			if h.cols != l.In {
				return nil, ErrNotRunnable
			}
			n.kind, n.a = kindDense, l.Analog
			n.out = &act{rows: h.rows, cols: l.Out}
		case *Conv2d:
			g := l.Geom
			if h.cols != g.InputsPerSample {
				return nil, ErrNotRunnable
			}
			n.kind, n.a, n.geom = kindConv, l.Analog, g
			n.patches = &act{rows: h.rows * g.Patches, cols: g.PatchRows}
			n.out = &act{rows: h.rows * g.Patches, cols: l.Out}
		case *ConvertingReLU:
			n.kind, n.relu = kindReLU, l
			n.out = &act{rows: h.rows, cols: h.cols}
		case Flatten:
			if (h.rows*h.cols)%l.PerSample != 0 {
				return nil, ErrNotRunnable
			}
			n.kind = kindFlatten
			n.out = &act{rows: h.rows * h.cols / l.PerSample, cols: l.PerSample}
		default:
			return nil, ErrNotRunnable
		}
		n.needGX = params
		if n.a != nil {
			params = true
			n.k = n.a.NewKernel(ex)
		}
		r.nodes = append(r.nodes, n)
		h = n.out
	}
	r.out = h
	if h.rows != batch || (train && h.cols != classes) {
		return nil, ErrNotRunnable
	}
	r.findChains()
	if err := r.allocate(dev); err != nil {
		return nil, err
	}
	return r, nil
}

// findChains links every analog layer to the dense layer that reads its
// outputs through a ConvertingReLU (and flattens), for devices that run
// such chains in one call. A convolution is only ever a chain's first
// layer: its patches are cut on the host.
func (r *Runner) findChains() {
	for i, n := range r.nodes {
		if n.kind != kindDense {
			continue
		}
		relu := originOf(r.nodes[:i], n.in)
		if relu == nil || relu.kind != kindReLU {
			continue
		}
		j := slices.Index(r.nodes, relu)
		if a := originOf(r.nodes[:j], relu.in); a != nil && a.a != nil {
			a.next, a.nextShift, n.chained = n, relu.relu.Shift, true
		}
	}
	for _, n := range r.nodes {
		if n.a == nil || n.chained || n.next == nil {
			continue
		}
		var names []string
		for m := n; m != nil; m = m.next {
			names = append(names, m.a.Name)
		}
		n.chainName = strings.Join(names, "+")
		r.links = make([]analogmac.Link, 0, max(cap(r.links), len(names)))
	}
}

// allocate decides each activation's representations and makes the
// buffers, so that running allocates nothing.
func (r *Runner) allocate(dev bool) error {
	for i, n := range r.nodes {
		size := n.out.rows * n.out.cols
		src := originOf(r.nodes[:i], n.in) // nil: the network's input
		switch n.kind {
		case kindFlatten:
			// Shares its input's buffers (shareFlattens).
		case kindDense, kindConv:
			n.fromInput = src == nil
			if dev {
				switch {
				case src == nil && r.in.u == nil:
					r.in.u = make([]uint8, r.in.rows*r.in.cols)
				case src != nil && src.kind != kindReLU:
					return ErrNotRunnable // a device takes 5-bit inputs
				}
				n.out.y = make([]int8, size)
			} else {
				n.out.f = make([]float32, size)
			}
			if n.kind == kindConv {
				ps := n.patches.rows * n.patches.cols
				if dev {
					n.patches.u = make([]uint8, ps)
				} else {
					n.patches.f = make([]float32, ps)
				}
			}
		case kindReLU:
			if dev {
				if src == nil || src.kind == kindReLU {
					return ErrNotRunnable // its input is not an analog output
				}
				n.out.u = make([]uint8, size)
			} else {
				n.out.f = make([]float32, size)
			}
		}
		r.shareFlattens()
	}
	if r.out.f == nil {
		r.out.f = make([]float32, r.out.rows*r.out.cols)
	}
	if !r.train {
		return nil
	}
	r.probs = make([]float32, r.out.rows*r.out.cols)
	r.out.g = r.probs
	for i := len(r.nodes) - 1; i >= 0; i-- {
		n := r.nodes[i]
		if n.out.g == nil {
			n.out.g = make([]float32, n.out.rows*n.out.cols)
		}
		if n.kind == kindFlatten {
			n.in.g = n.out.g
			continue
		}
		if n.a != nil {
			n.gw = make([]float32, n.a.In*n.a.Out)
			r.grads = append([][]float32{n.gw}, r.grads...)
			if n.needGX {
				n.wt = make([]float32, n.a.In*n.a.Out)
				if n.kind == kindConv {
					n.patches.g = make([]float32, n.patches.rows*n.patches.cols)
				}
			}
		}
		if n.needGX && n.in.g == nil {
			n.in.g = make([]float32, n.in.rows*n.in.cols)
		}
	}
	return nil
}

// originOf returns the node among nodes whose output a is, looking through
// flattens; nil for the network's input.
func originOf(nodes []*node, a *act) *node {
	for i := len(nodes) - 1; i >= 0; i-- {
		if n := nodes[i]; n.out == a {
			if n.kind == kindFlatten {
				return originOf(nodes[:i], n.in)
			}
			return n
		}
	}
	return nil
}

// shareFlattens gives every flatten's output its input's buffers.
func (r *Runner) shareFlattens() {
	for _, n := range r.nodes {
		if n.kind == kindFlatten {
			n.out.f, n.out.u, n.out.y = n.in.f, n.in.u, n.in.y
		}
	}
}

// Logits returns the last run's outputs (batch x outputs).
func (r *Runner) Logits() []float32 { return r.out.f }

// Loss returns the last training run's mean loss, rounded to float32 as
// the Gorgonia op returns it.
func (r *Runner) Loss() float64 { return r.loss }

// Grads returns the last training run's gradients, in Params order.
func (r *Runner) Grads() [][]float32 { return r.grads }

// Run executes the layers once on the input (and targets): forward, then
// with training the loss and the backward pass. The Exec must have been
// given the run's context and keys (Exec.Begin).
func (r *Runner) Run() error {
	dev := !r.ex.Float()
	chainer, _ := r.ex.Device.(analogmac.Chainer) // nil in float mode
	for _, n := range r.nodes {
		var err error
		switch {
		case chainer != nil && n.chained:
			// The chain that began earlier ran it.
		case chainer != nil && n.next != nil:
			err = r.forwardChain(chainer, n)
		default:
			err = r.forward(n, dev)
		}
		if err != nil {
			return err
		}
	}
	out := r.out
	if dev && out.y != nil {
		for i, v := range out.y {
			out.f[i] = float32(v)
		}
	} else if dev && out.u != nil {
		for i, v := range out.u {
			out.f[i] = float32(v)
		}
	}
	if !r.train {
		return nil
	}
	nll := softmaxNLL(r.probs, out.f, r.t, out.cols, r.scale)
	r.loss = float64(float32(nll / float64(out.rows)))
	xentGrad(r.probs, r.t, 1, r.scale, out.rows)
	for i := len(r.nodes) - 1; i >= 0; i-- {
		r.backward(r.nodes[i], dev)
	}
	return nil
}

func (r *Runner) forward(n *node, dev bool) error {
	switch n.kind {
	case kindFlatten:
		return nil
	case kindReLU:
		if dev {
			// y is an integer in -128..127: floor(clamp(y, 0, 127) / 2^s)
			// is a shift, the conversion a chain of runs on a device also
			// makes.
			analogmac.ConvertReLU(n.out.u, n.in.y, n.relu.Shift)
			return nil
		}
		n.relu.Forward(n.out.f, n.in.f, true)
		return nil
	}
	if !dev {
		x := n.in
		if n.kind == kindConv {
			x = n.patches
			n.cutF.g, n.cutF.cols, n.cutF.x, n.cutF.batch = n.geom, x.f, n.in.f, n.in.rows
			n.cutF.cut()
		}
		n.k.forwardFloat(n.out.f, x.f, n.out.rows)
		return nil
	}
	x, err := r.deviceInputs(n)
	if err != nil {
		return err
	}
	return n.k.forwardQ(n.out.y, x.u, n.out.rows)
}

// deviceInputs prepares analog layer n's 5-bit inputs on a device and
// returns them: the network's input checked and converted, a
// convolution's patches cut.
func (r *Runner) deviceInputs(n *node) (*act, error) {
	if n.fromInput {
		// The network's input: check and convert it once.
		if err := r.quantizeInput(n); err != nil {
			return nil, err
		}
	}
	if n.kind != kindConv {
		return n.in, nil
	}
	n.cut.g, n.cut.cols, n.cut.x, n.cut.batch = n.geom, n.patches.u, n.in.u, n.in.rows
	n.cut.cut()
	return n.patches, nil
}

// forwardChain runs the chain of analog layers that begins with n in one
// call of the device: what forward does for each of them, in the same
// order and with the same noise keys. The ConvertingReLUs between them
// run afterwards on the host as usual, for the gradients and the inputs
// the backward pass reads.
func (r *Runner) forwardChain(ch analogmac.Chainer, n *node) error {
	x, err := r.deviceInputs(n)
	if err != nil {
		return err
	}
	ctx := r.ex.context()
	r.links = r.links[:0]
	shift := 0
	for m := n; m != nil; m = m.next {
		if err := m.k.program(ctx); err != nil {
			return fmt.Errorf("layers: %s: %w", m.a.Name, err)
		}
		r.links = append(r.links, analogmac.Link{Program: m.k.prog, Batch: m.out.rows, Noise: r.ex.keys.Next(), Out: m.out.y, Shift: shift})
		shift = m.nextShift
	}
	if err := ch.RunChain(ctx, x.u, r.links); err != nil {
		return fmt.Errorf("layers: %s: %w", n.chainName, err)
	}
	return nil
}

// quantizeInput converts the network's input to 5-bit integers for n, the
// first analog layer, and refuses anything else exactly as its Kernel
// would: naming the first bad element of n's own input matrix.
func (r *Runner) quantizeInput(n *node) error {
	in := r.in
	ok := true
	for i := toInputsVector(in.u, in.f); i < len(in.f); i++ {
		v := in.f[i]
		q := uint8(v)
		if float32(q) != v || q > 31 {
			ok = false
			break
		}
		in.u[i] = q
	}
	if ok {
		return nil
	}
	x := in.f
	if n.kind == kindConv {
		x = make([]float32, n.patches.rows*n.patches.cols)
		n.geom.Im2Col(x, in.f, in.rows)
	}
	return n.k.quantizeInputs(make([]uint8, len(x)), x)
}

func (r *Runner) backward(n *node, dev bool) {
	switch n.kind {
	case kindFlatten:
		return
	case kindReLU:
		if !n.needGX {
			return
		}
		div := float32(math.Ldexp(1, -n.relu.Shift))
		g, gin := n.out.g, n.in.g
		if dev {
			// Without a branch: the signs of y are a coin toss. The mask
			// keeps g*div's bits where y > 0 and gives +0 elsewhere, as
			// the Gorgonia op does.
			g = g[:len(n.in.y)]
			gin = gin[:len(n.in.y)]
			for i, v := range n.in.y {
				keep := uint32(int32(-int32(v)) >> 31) // all ones iff v > 0
				gin[i] = math.Float32frombits(math.Float32bits(g[i]*div) & keep)
			}
			return
		}
		if reluGradFloatVector(gin, g, n.in.f, div) {
			return
		}
		for i, v := range n.in.f {
			if v > 0 {
				gin[i] = g[i] * div
			} else {
				gin[i] = 0
			}
		}
		return
	}
	a := n.a
	scale := float32(n.k.scale())
	rows := n.out.rows
	x := n.in
	if n.kind == kindConv {
		x = n.patches
	}
	g := n.out.g
	// gradW = xᵀ (g * gain * sends)
	if x.u != nil {
		sgemm.MulU8T(a.In, a.Out, rows, scale, x.u, a.In, g, a.Out, n.gw, a.Out)
	} else {
		sgemm.Mul(true, a.In, a.Out, rows, scale, x.f, a.In, g, a.Out, n.gw, a.Out)
	}
	if !n.needGX {
		return
	}
	// gradX = (g * gain * sends) Wᵀ, through a transposed copy of W as the
	// Gorgonia op does (the same products in the same order).
	n.tr = transposeBody{t: n.wt, w: a.Weights(), rows: a.In, cols: a.Out}
	n.tr.run()
	gx := n.in.g
	if n.kind == kindConv {
		gx = n.patches.g
	}
	sgemm.Mul(false, rows, a.In, a.Out, scale, g, a.Out, n.wt, a.In, gx, a.In)
	if n.kind == kindConv {
		n.geom.Col2Im(n.in.g, gx, n.in.rows)
	}
}

// transpose writes rows [r0, r1) of the rows x cols matrix w transposed
// into t: whole 16 x 16 tiles with the vector kernel where there is one,
// the columns right of them and the rows below them in Go.
func transpose(t, w []float32, rows, cols, r0, r1 int) {
	ri, cj := transposeVector(t, w, rows, cols, r0, r1)
	for i := r0; i < r0+ri; i++ {
		for j := cj; j < cols; j++ {
			t[j*rows+i] = w[i*cols+j]
		}
	}
	transposeLoop(t, w, rows, cols, r0+ri, r1)
}

// transposeLoop transposes rows [r0, r1) of w into t, in blocks that stay
// in the cache.
func transposeLoop(t, w []float32, rows, cols, r0, r1 int) {
	const bs = 16
	for i0 := r0; i0 < r1; i0 += bs {
		i1 := min(i0+bs, r1)
		for j0 := 0; j0 < cols; j0 += bs {
			j1 := min(j0+bs, cols)
			for i := i0; i < i1; i++ {
				src := w[i*cols+j0 : i*cols+j1]
				for j, v := range src {
					t[(j0+j)*rows+i] = v
				}
			}
		}
	}
}
