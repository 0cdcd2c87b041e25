package layers

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/analogloop/analogloop/analogmac"
)

// ConvertingReLU maps a layer's int8 outputs to the next layer's 5-bit
// inputs: clamp(floor(clamp(y, 0, 127) / 2^Shift), 0, 31), as hxtorch's
// ConvertingReLU. In float mode the floor is left out. Its backward pass is
// mask(y > 0) / 2^Shift.
type ConvertingReLU struct {
	Shift int
	id    int64
}

// MaxShift is the largest shift of a ConvertingReLU: beyond it every int8
// output maps to 0.
const MaxShift = analogmac.MaxShift

// NewConvertingReLU returns the activation with the given shift.
func NewConvertingReLU(shift int) (*ConvertingReLU, error) {
	if shift < 0 || shift > MaxShift {
		return nil, fmt.Errorf("layers: ConvertingReLU shift %d: want 0..%d", shift, MaxShift)
	}
	return &ConvertingReLU{Shift: shift, id: newID()}, nil
}

// Forward applies the activation to y, writing dst (may alias y); float
// mode leaves out the floor.
func (r *ConvertingReLU) Forward(dst, y []float32, float bool) {
	div := float32(math.Ldexp(1, -r.Shift))
	round := !float
	if float && reluFloatVector(dst, y, div) {
		return
	}
	for i, v := range y {
		v = max(0, min(analogmac.OutputMax, v)) * div
		if round {
			v = float32(math.Floor(float64(v)))
		}
		dst[i] = min(analogmac.InputMax, v)
	}
}

// Apply implements Layer.
func (r *ConvertingReLU) Apply(x *G.Node, ex *Exec) (*G.Node, error) {
	return G.ApplyOp(&reluOp{base("crelu", r.id, 1), r, ex}, x)
}

// Params implements Layer: the activation has none.
func (r *ConvertingReLU) Params() []*Param { return nil }

// Describe implements Layer.
func (r *ConvertingReLU) Describe() Description {
	return Description{Type: "converting_relu", Shift: r.Shift}
}

type reluOp struct {
	opBase
	r  *ConvertingReLU
	ex *Exec
}

func (op *reluOp) Type() hm.Type { return fnType(1, matrixType()) }
func (op *reluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *reluOp) Do(vals ...G.Value) (G.Value, error) {
	y, err := f32(vals[0])
	if err != nil {
		return nil, err
	}
	s := vals[0].Shape()
	out := op.output(s[0], s[1])
	op.r.Forward(out.Data().([]float32), y, op.ex.Float())
	return out, nil
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reluOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g, err := G.ApplyOp(&reluGradOp{base("crelu.grad", op.r.id, 2), op.r}, in[0], grad)
	return G.Nodes{g}, err
}

type reluGradOp struct {
	opBase
	r *ConvertingReLU
}

func (op *reluGradOp) Type() hm.Type { return fnType(2, matrixType()) }
func (op *reluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *reluGradOp) Do(vals ...G.Value) (G.Value, error) {
	y, g, err := f32Pair(vals)
	if err != nil {
		return nil, err
	}
	s := vals[0].Shape()
	out := op.output(s[0], s[1])
	d := out.Data().([]float32)
	div := float32(math.Ldexp(1, -op.r.Shift))
	for i, v := range y {
		if v > 0 {
			d[i] = g[i] * div
		} else {
			d[i] = 0
		}
	}
	return out, nil
}
