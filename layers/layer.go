package layers

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/analogloop/analogloop/analogmac"
)

// Layer is one step of a network. Activations are always matrices
// (rows, features); a convolution's rows are its patches.
type Layer interface {
	// Apply adds the layer's ops to x's graph, to run in ex, and returns its
	// output node.
	Apply(x *G.Node, ex *Exec) (*G.Node, error)
	// Params lists the trainable parameters, in a fixed order.
	Params() []*Param
	// Describe says what the layer is, for manifests and logs.
	Describe() Description
}

// Param is a trainable tensor with a name unique in the process, which is
// also the name of its node in every graph the layer is applied to.
type Param struct {
	Name  string
	Value *tensor.Dense
	// Clamp, if set, is applied after every optimiser step.
	Clamp func()

	// data is Value's backing while Value is still src (see Analog.w).
	data []float32
	src  *tensor.Dense
	// clampMax, if not 0, says that Clamp clamps to +-clampMax, which Adam
	// may then do in its own loop.
	clampMax float32
}

// Data returns the parameter's float32 backing.
func (p *Param) Data() []float32 {
	if p.data != nil && p.Value == p.src {
		return p.data
	}
	return p.Value.Data().([]float32)
}

// node returns the parameter's node in g, creating it bound to the shared
// value so that every graph sees the same weights.
func (p *Param) node(g *G.ExprGraph) *G.Node {
	if ns := g.ByName(p.Name); len(ns) > 0 {
		return ns[0]
	}
	s := p.Value.Shape()
	return G.NewMatrix(g, tensor.Float32, G.WithShape(s...), G.WithName(p.Name), G.WithValue(p.Value))
}

// Description records a layer's type and hyper-parameters.
type Description struct {
	Type      string               `json:"type"`
	Name      string               `json:"name,omitempty"`
	In        int                  `json:"in,omitempty"`
	Out       int                  `json:"out,omitempty"`
	Input     []int                `json:"input_hwc,omitempty"`
	Kernel    int                  `json:"kernel,omitempty"`
	Stride    int                  `json:"stride,omitempty"`
	Pad       int                  `json:"padding,omitempty"`
	Sends     int                  `json:"sends,omitempty"`
	Shift     int                  `json:"shift,omitempty"`
	Placement *analogmac.Placement `json:"placement,omitempty"`
}

// Dense is a fully connected layer on the analog array.
type Dense struct{ *Analog }

// NewDense returns an in -> out layer with zero weights.
func NewDense(name string, in, out, sends int, place analogmac.Placement) (*Dense, error) {
	a, err := newAnalog(name, in, out, sends, place)
	return &Dense{a}, err
}

// Apply implements Layer.
func (d *Dense) Apply(x *G.Node, ex *Exec) (*G.Node, error) {
	return d.apply(x, d.param().node(x.Graph()), ex)
}

// Params implements Layer.
func (d *Dense) Params() []*Param { return []*Param{d.param()} }

func (a *Analog) param() *Param {
	return &Param{Name: fmt.Sprintf("%s.W#%d", a.Name, a.id), Value: a.W, Clamp: a.ClampWeights,
		data: a.Weights(), src: a.W, clampMax: analogmac.WeightMax}
}

// Describe implements Layer.
func (d *Dense) Describe() Description {
	p := d.Place
	return Description{Type: "dense", Name: d.Name, In: d.In, Out: d.Out, Sends: d.Sends, Placement: &p}
}

// Conv2d is a convolution on the analog array: every patch of the input
// (Kernel x Kernel x C values, one row block for a 10x10 kernel) is one
// input vector. Its output has one row per patch and one column per channel;
// follow it with Flatten to get one row per sample.
type Conv2d struct {
	*Analog
	Geom Geometry
}

// NewConv2d returns a convolution over h x w x c images with zero weights.
func NewConv2d(name string, g Geometry, outC, sends int, place analogmac.Placement) (*Conv2d, error) {
	a, err := newAnalog(name, g.PatchRows, outC, sends, place)
	return &Conv2d{Analog: a, Geom: g}, err
}

// Apply implements Layer.
func (c *Conv2d) Apply(x *G.Node, ex *Exec) (*G.Node, error) {
	cols, err := G.ApplyOp(&im2colOp{base("im2col", c.id, 1), c.Geom}, x)
	if err != nil {
		return nil, err
	}
	return c.apply(cols, c.param().node(x.Graph()), ex)
}

// Params implements Layer.
func (c *Conv2d) Params() []*Param { return []*Param{c.param()} }

// Describe implements Layer.
func (c *Conv2d) Describe() Description {
	p := c.Place
	return Description{Type: "conv2d", Name: c.Name, In: c.In, Out: c.Out, Input: []int{c.Geom.H, c.Geom.W, c.Geom.C},
		Kernel: c.Geom.Kernel, Stride: c.Geom.Stride, Pad: c.Geom.Pad, Sends: c.Sends, Placement: &p}
}

// Flatten turns (batch*rows, features) into (batch, rows*features): a
// convolution's patches, channels last, become one vector per sample.
type Flatten struct{ PerSample int }

// Apply implements Layer.
func (f Flatten) Apply(x *G.Node, _ *Exec) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 2 || (s[0]*s[1])%f.PerSample != 0 {
		return nil, fmt.Errorf("layers: flatten %v to rows of %d values: sizes do not divide", s, f.PerSample)
	}
	return G.Reshape(x, tensor.Shape{s[0] * s[1] / f.PerSample, f.PerSample})
}

// Params implements Layer.
func (Flatten) Params() []*Param { return nil }

// Describe implements Layer.
func (f Flatten) Describe() Description { return Description{Type: "flatten", Out: f.PerSample} }

// Bias adds a digital per-column offset after an analog layer, in output
// LSB. On a device it is rounded to an integer, as the chip's digital
// processor adds integers.
type Bias struct {
	Name string
	B    *tensor.Dense // 1 x N
	id   int64
}

// NewBias returns a zero bias for n columns.
func NewBias(name string, n int) *Bias {
	return &Bias{Name: name, B: newMatrix(1, n), id: newID()}
}

func (l *Bias) param() *Param {
	return &Param{Name: fmt.Sprintf("%s.b#%d", l.Name, l.id), Value: l.B}
}

// Params implements Layer.
func (l *Bias) Params() []*Param { return []*Param{l.param()} }

// Describe implements Layer.
func (l *Bias) Describe() Description {
	return Description{Type: "bias", Name: l.Name, Out: l.B.Shape()[1]}
}

// Apply implements Layer.
func (l *Bias) Apply(x *G.Node, ex *Exec) (*G.Node, error) {
	return G.ApplyOp(&biasOp{base("bias", l.id, 2), l, ex}, x, l.param().node(x.Graph()))
}

type biasOp struct {
	opBase
	l  *Bias
	ex *Exec
}

func (op *biasOp) Type() hm.Type { return fnType(2, matrixType()) }
func (op *biasOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 2 || s[1] != op.l.B.Shape()[1] {
		return nil, fmt.Errorf("layers: bias %s: input shape %v: want (rows, %d)", op.l.Name, in[0], op.l.B.Shape()[1])
	}
	return s.Clone(), nil
}

func (op *biasOp) Do(vals ...G.Value) (G.Value, error) {
	y, b, err := f32Pair(vals)
	if err != nil {
		return nil, err
	}
	n := len(b)
	out := op.output(len(y)/n, n)
	d := out.Data().([]float32)
	round := !op.ex.Float()
	for i, v := range y {
		bv := b[i%n]
		if round {
			bv = float32(math.Round(float64(bv)))
		}
		d[i] = v + bv
	}
	return out, nil
}

func (op *biasOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *biasOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	gb, err := G.ApplyOp(&colSumOp{base("bias.grad", op.l.id, 1)}, grad)
	return G.Nodes{grad, gb}, err
}

// colSumOp sums a matrix over its rows into a 1 x N matrix.
type colSumOp struct{ opBase }

func (op *colSumOp) Type() hm.Type { return fnType(1, matrixType()) }
func (op *colSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{1, in[0].(tensor.Shape)[1]}, nil
}

func (op *colSumOp) Do(vals ...G.Value) (G.Value, error) {
	g, err := f32(vals[0])
	if err != nil {
		return nil, err
	}
	n := vals[0].Shape()[1]
	out := op.output(1, n)
	d := out.Data().([]float32)
	clear(d)
	for i, v := range g {
		d[i%n] += v
	}
	return out, nil
}

// ScaleImages maps 8-bit pixels to the chip's 5-bit inputs, 0..31, by
// dropping the three low bits (floor(p / 8)), writing dst.
func ScaleImages(dst []float32, src []uint8) {
	for i, p := range src {
		dst[i] = float32(p >> 3)
	}
}
