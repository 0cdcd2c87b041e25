package layers

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// CrossEntropy adds the mean softmax cross-entropy of logits*scale against
// one-hot targets (both batch x classes) to the graph. The scale turns
// output LSB into logits of a useful temperature. One fused op keeps the
// softmax numerically safe and avoids Gorgonia's generic softmax.
func CrossEntropy(logits, targets *G.Node, scale float64) (*G.Node, error) {
	if scale <= 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("layers: cross-entropy scale %g: want a positive number", scale)
	}
	return G.ApplyOp(&xentOp{base("xent", newID(), 2), scale}, logits, targets)
}

type xentOp struct {
	opBase
	scale float64
}

func (op *xentOp) Type() hm.Type { return fnType(2, hm.TypeVariable('a')) }
func (op *xentOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

// softmax writes the probabilities of each row of z*scale into p and returns
// the summed negative log-likelihood of the targets t.
func (op *xentOp) softmax(p, z, t []float32, n int) float64 { return softmaxNLL(p, z, t, n, op.scale) }

// softmaxNLL is the cross-entropy's arithmetic, shared by the op and by
// Runner so that both compute the same numbers.
func softmaxNLL(p, z, t []float32, n int, scale float64) float64 {
	var nll float64
	for r := 0; r < len(z); r += n {
		row := z[r : r+n]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var sum float64
		for i, v := range row {
			e := math.Exp(scale * float64(v-m))
			p[r+i] = float32(e)
			sum += e
		}
		for i := range row {
			p[r+i] = float32(float64(p[r+i]) / sum)
			if t[r+i] != 0 {
				nll -= float64(t[r+i]) * (scale*float64(row[i]-m) - math.Log(sum))
			}
		}
	}
	return nll
}

// xentGrad turns probabilities p into the loss's gradient with respect to
// the logits, in place: g * scale * (p - t) / batch.
func xentGrad(p, t []float32, g, scale float64, batch int) {
	k := float32(g * scale / float64(batch))
	for i := range p {
		p[i] = k * (p[i] - t[i])
	}
}

func (op *xentOp) Do(vals ...G.Value) (G.Value, error) {
	z, t, err := f32Pair(vals)
	if err != nil {
		return nil, err
	}
	s := vals[0].Shape()
	p := make([]float32, len(z))
	nll := op.softmax(p, z, t, s[1])
	return G.NewF32(float32(nll / float64(s[0]))), nil
}

func (op *xentOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *xentOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g, err := G.ApplyOp(&xentGradOp{base("xent.grad", op.id, 3), op}, in[0], in[1], grad)
	return G.Nodes{g, nil}, err
}

// xentGradOp: d loss / d z = grad * scale * (softmax(z*scale) - t) / batch.
type xentGradOp struct {
	opBase
	x *xentOp
}

func (op *xentGradOp) Type() hm.Type {
	return hm.NewFnType(matrixType(), matrixType(), hm.TypeVariable('a'), matrixType())
}
func (op *xentGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *xentGradOp) Do(vals ...G.Value) (G.Value, error) {
	z, t, err := f32Pair(vals)
	if err != nil {
		return nil, err
	}
	var g float64
	switch v := vals[2].(type) {
	case *G.F32:
		g = float64(*v)
	case tensor.Tensor:
		g = float64(v.Data().(float32))
	default:
		return nil, fmt.Errorf("layers: cross-entropy gradient seed %T", vals[2])
	}
	s := vals[0].Shape()
	out := op.output(s[0], s[1])
	p := out.Data().([]float32)
	op.x.softmax(p, z, t, s[1])
	xentGrad(p, t, g, op.x.scale, s[0])
	return out, nil
}
