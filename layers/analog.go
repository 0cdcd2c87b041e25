package layers

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas/blas32"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/analogloop/analogloop/analogmac"
)

// Analog is a weight matrix that lives on the analog array: the part that
// Dense and Conv2d share. W holds the float master copy in hardware units
// (In x Out, row-major); the device sees it rounded to -63..63. An Analog
// holds no device and no buffers: those belong to the Kernel of each graph
// it is applied in.
type Analog struct {
	Name  string
	In    int
	Out   int
	Sends int
	Place analogmac.Placement
	W     *tensor.Dense

	id int64
	// w is W's float32 backing, taken once: Data boxes the slice into an
	// interface, an allocation at every call, and the training step asks
	// for the weights many times. Used only while W is still wsrc.
	w    []float32
	wsrc *tensor.Dense
}

func newAnalog(name string, in, out, sends int, place analogmac.Placement) (*Analog, error) {
	if in < 1 || out < 1 {
		return nil, fmt.Errorf("layers: %s: %d inputs and %d outputs: need at least one of each", name, in, out)
	}
	if sends < 1 || sends > analogmac.MaxSends {
		return nil, fmt.Errorf("layers: %s: sends %d: want 1..%d", name, sends, analogmac.MaxSends)
	}
	if _, err := analogmac.Tiles(in, out, place); err != nil {
		return nil, fmt.Errorf("layers: %s: %w", name, err)
	}
	w := newMatrix(in, out)
	return &Analog{Name: name, In: in, Out: out, Sends: sends, Place: place, W: w, id: newID(), w: w.Data().([]float32), wsrc: w}, nil
}

// Weights returns the float master weights, In x Out row-major.
func (a *Analog) Weights() []float32 {
	if a.W == a.wsrc {
		return a.w
	}
	return a.W.Data().([]float32)
}

// QuantizedWeights returns the weights as the device sees them: rounded to
// the nearest integer and clamped to -WeightMax..WeightMax.
func (a *Analog) QuantizedWeights(dst []int8) []int8 {
	w := a.Weights()
	if cap(dst) < len(w) {
		dst = make([]int8, len(w))
	}
	dst = dst[:len(w)]
	for i := quantizeVector(dst, w); i < len(w); i++ {
		dst[i] = QuantizeWeight(w[i])
	}
	return dst
}

// QuantizeWeight rounds a master weight to the nearest integer, halves
// away from zero, and clamps it to the chip's signed 6-bit range.
func QuantizeWeight(v float32) int8 {
	const lim = analogmac.WeightMax + 0.5
	if v > -lim && v < lim {
		// What math.Round gives, without its branches: |v| + 0.5 is exact
		// in float64 and truncation floors it; the sign is put back with
		// its bit. Training visits this for every weight at every step.
		a := float64(v)
		t := int32(math.Abs(a) + 0.5)
		s := int32(math.Float64bits(a) >> 63)
		return int8((t ^ -s) + s)
	}
	r := math.Round(float64(v))
	return int8(max(-analogmac.WeightMax, min(analogmac.WeightMax, r)))
}

// ClampWeights keeps the master copy inside the range the chip can hold,
// as hxtorch does after each optimiser step.
func (a *Analog) ClampWeights() {
	w := a.Weights()
	for i, v := range w {
		w[i] = max(-analogmac.WeightMax, min(analogmac.WeightMax, v))
	}
}

// Kernel runs an Analog layer's forward pass in one Exec: it programs the
// quantized weights onto the Exec's device when they have changed since the
// last run, and keeps the buffers a run reuses. Each graph applying a layer
// gets its own Kernel; a Kernel is used by one goroutine at a time.
type Kernel struct {
	a  *Analog
	ex *Exec

	prog    analogmac.Program
	progDev analogmac.Device // the device prog is on
	wq      []int8           // the weights prog holds
	next    []int8           // this run's quantized weights

	xq  []uint8
	yq  []int8
	acc []float32
	tot []float32
}

// NewKernel returns a's kernel in ex; ex.Close releases it.
func (a *Analog) NewKernel(ex *Exec) *Kernel {
	k := &Kernel{a: a, ex: ex}
	ex.kernels = append(ex.kernels, k)
	return k
}

// Close frees the kernel's program on the device.
func (k *Kernel) Close() error {
	if k.prog == nil {
		return nil
	}
	err := k.prog.Close()
	k.prog, k.progDev, k.wq = nil, nil, nil
	return err
}

// scale is the factor between the integer product and output LSB.
func (k *Kernel) scale() float64 { return k.ex.Gain() * float64(k.a.Sends) }

// Forward computes y (batch x Out) from x (batch x In) in the kernel's Exec.
func (k *Kernel) Forward(y, x []float32, batch int) error {
	a := k.a
	if len(x) != batch*a.In || len(y) != batch*a.Out {
		return fmt.Errorf("layers: %s: got %d inputs and %d outputs for batch %d of %dx%d", a.Name, len(x), len(y), batch, a.In, a.Out)
	}
	if k.ex.Float() {
		k.forwardFloat(y, x, batch)
		return nil
	}
	return k.forwardDevice(y, x, batch)
}

// forwardFloat mirrors the device's block structure (clamp per 128-row block,
// add, clamp) without any rounding: the software baseline.
func (k *Kernel) forwardFloat(y, x []float32, batch int) {
	a := k.a
	s := float32(k.scale())
	w := a.Weights()
	n := batch * a.Out
	k.tot = grow(k.tot, n)
	tot := k.tot
	clear(tot)
	for r0 := 0; r0 < a.In; r0 += analogmac.BlockRows {
		r1 := min(r0+analogmac.BlockRows, a.In)
		xa := blas32.General{Rows: batch, Cols: r1 - r0, Stride: a.In, Data: x[r0:]}
		wb := blas32.General{Rows: r1 - r0, Cols: a.Out, Stride: a.Out, Data: w[r0*a.Out:]}
		if r0 == 0 && r1 == a.In {
			gemm(false, s, xa, wb, blas32.General{Rows: batch, Cols: a.Out, Stride: a.Out, Data: y})
			if !clampVector(y) {
				for i, v := range y {
					y[i] = clampOut(v)
				}
			}
			return
		}
		k.acc = grow(k.acc, n)
		acc := k.acc
		gemm(false, s, xa, wb, blas32.General{Rows: batch, Cols: a.Out, Stride: a.Out, Data: acc})
		if !clampAddVector(tot, acc) {
			for i, v := range acc {
				tot[i] += clampOut(v)
			}
		}
	}
	copy(y, tot)
	if !clampVector(y) {
		for i, v := range tot {
			y[i] = clampOut(v)
		}
	}
}

func clampOut(v float32) float32 {
	return max(analogmac.OutputMin, min(analogmac.OutputMax, v))
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// program makes sure the device holds the current quantized weights,
// programming them only when they differ from what it holds.
func (k *Kernel) program(ctx context.Context) error {
	a := k.a
	if k.prog != nil && k.progDev != k.ex.Device {
		// The run is on another device than the weights: program there.
		_ = k.Close()
	}
	k.next = a.QuantizedWeights(k.next)
	if k.prog != nil && slices.Equal(k.next, k.wq) {
		return nil
	}
	if u, ok := k.prog.(analogmac.Updater); ok {
		if err := u.Update(ctx, k.next); err != nil {
			return err
		}
		k.wq, k.next = k.next, k.wq
		return nil
	}
	if k.prog != nil {
		_ = k.prog.Close()
		k.prog = nil
	}
	prog, err := k.ex.Device.Program(ctx, analogmac.Matrix{Rows: a.In, Cols: a.Out, Weights: k.next, Sends: a.Sends, Placement: a.Place})
	if err != nil {
		return err
	}
	k.prog, k.progDev = prog, k.ex.Device
	k.wq, k.next = k.next, k.wq
	return nil
}

func (k *Kernel) forwardDevice(y, x []float32, batch int) error {
	k.xq = grow(k.xq, len(x))
	if err := k.quantizeInputs(k.xq, x); err != nil {
		return k.ex.fail(err)
	}
	k.yq = grow(k.yq, len(y))
	if err := k.forwardQ(k.yq, k.xq, batch); err != nil {
		return k.ex.fail(err)
	}
	for i, v := range k.yq {
		y[i] = float32(v)
	}
	return nil
}

// quantizeInputs converts x to the device's 5-bit inputs. Inputs arrive as
// integers 0..31 from input scaling or a ConvertingReLU; anything else is a
// bug upstream, not data to clip.
func (k *Kernel) quantizeInputs(xq []uint8, x []float32) error {
	a := k.a
	start := toInputsVector(xq, x)
	for i, v := range x[start:] {
		i += start
		if q := uint8(v); float32(q) != v || q > analogmac.InputMax {
			return fmt.Errorf("layers: %s: input [%d][%d] = %g: want an integer in 0..%d", a.Name, i/a.In, i%a.In, v, analogmac.InputMax)
		}
		xq[i] = uint8(v)
	}
	return nil
}

// forwardQ programs the current weights if they changed and runs the 5-bit
// inputs xq (batch x In) through the device into yq, drawing the next
// noise key.
func (k *Kernel) forwardQ(yq []int8, xq []uint8, batch int) error {
	a := k.a
	ctx := k.ex.context()
	if err := k.program(ctx); err != nil {
		return fmt.Errorf("layers: %s: %w", a.Name, err)
	}
	if err := k.prog.Run(ctx, yq, xq, batch, k.ex.keys.Next()); err != nil {
		return fmt.Errorf("layers: %s: %w", a.Name, err)
	}
	return nil
}

// apply adds the analog product of x (batch x In) with the layer's weight
// node to x's graph.
func (a *Analog) apply(x, w *G.Node, ex *Exec) (*G.Node, error) {
	return G.ApplyOp(&analogOp{base("analog", a.id, 2), a, a.NewKernel(ex)}, x, w)
}

// analogOp: forward on the Exec's device; backward straight-through, the
// gradient of the ideal product with the same gain (hxtorch's mac
// autograd).
type analogOp struct {
	opBase
	a *Analog
	k *Kernel
}

func (op *analogOp) Type() hm.Type { return fnType(2, matrixType()) }

func (op *analogOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ok := in[0].(tensor.Shape)
	if !ok || len(xs) != 2 || xs[1] != op.a.In {
		return nil, fmt.Errorf("layers: %s: input shape %v: want (batch, %d)", op.a.Name, in[0], op.a.In)
	}
	return tensor.Shape{xs[0], op.a.Out}, nil
}

func (op *analogOp) Do(vals ...G.Value) (G.Value, error) {
	x, err := f32(vals[0])
	if err != nil {
		return nil, err
	}
	batch := len(x) / op.a.In
	out := op.output(batch, op.a.Out)
	if err := op.k.Forward(out.Data().([]float32), x, batch); err != nil {
		return nil, err
	}
	return out, nil
}

func (op *analogOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *analogOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	gx, err := G.ApplyOp(&gradXOp{opBase: base("analog.gradx", op.a.id, 2), a: op.a, k: op.k}, grad, in[1])
	if err != nil {
		return nil, err
	}
	gw, err := G.ApplyOp(&gradWOp{base("analog.gradw", op.a.id, 2), op.a, op.k}, in[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{gx, gw}, nil
}

// gradXOp computes (g * gain * sends) @ W^T.
type gradXOp struct {
	opBase
	a  *Analog
	k  *Kernel // for the gain
	tw []float32
}

func (op *gradXOp) wt(w []float32) []float32 {
	if len(op.tw) != len(w) {
		op.tw = make([]float32, len(w))
	}
	in, out := op.a.In, op.a.Out
	for i := 0; i < in; i++ {
		for j := 0; j < out; j++ {
			op.tw[j*in+i] = w[i*out+j]
		}
	}
	return op.tw
}

func (op *gradXOp) Type() hm.Type { return fnType(2, matrixType()) }
func (op *gradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0], op.a.In}, nil
}

func (op *gradXOp) Do(vals ...G.Value) (G.Value, error) {
	g, w, err := f32Pair(vals)
	if err != nil {
		return nil, err
	}
	batch := len(g) / op.a.Out
	out := op.output(batch, op.a.In)
	// W^T is needed; gonum's Trans on b is slower than one transposed copy.
	wt := op.wt(w)
	gemm(false, float32(op.k.scale()),
		blas32.General{Rows: batch, Cols: op.a.Out, Stride: op.a.Out, Data: g},
		blas32.General{Rows: op.a.Out, Cols: op.a.In, Stride: op.a.In, Data: wt},
		blas32.General{Rows: batch, Cols: op.a.In, Stride: op.a.In, Data: out.Data().([]float32)})
	return out, nil
}

// gradWOp computes x^T @ (g * gain * sends).
type gradWOp struct {
	opBase
	a *Analog
	k *Kernel
}

func (op *gradWOp) Type() hm.Type { return fnType(2, matrixType()) }
func (op *gradWOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.a.In, op.a.Out}, nil
}

func (op *gradWOp) Do(vals ...G.Value) (G.Value, error) {
	x, g, err := f32Pair(vals)
	if err != nil {
		return nil, err
	}
	batch := len(g) / op.a.Out
	out := op.output(op.a.In, op.a.Out)
	gemm(true, float32(op.k.scale()),
		blas32.General{Rows: batch, Cols: op.a.In, Stride: op.a.In, Data: x},
		blas32.General{Rows: batch, Cols: op.a.Out, Stride: op.a.Out, Data: g},
		blas32.General{Rows: op.a.In, Cols: op.a.Out, Stride: op.a.Out, Data: out.Data().([]float32)})
	return out, nil
}
