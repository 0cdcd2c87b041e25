package layers

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// nextID gives every layer a unique id. Gorgonia hash-conses nodes: two
// applications of ops with equal hashes to equal inputs merge into one node,
// so each op's hash carries the id of the layer that owns it.
var nextID atomic.Int64

func newID() int64 { return nextID.Add(1) }

// opBase is what every op of this package has in common.
type opBase struct {
	kind  string
	id    int64
	arity int
	out   *tensor.Dense // reused output: each op instance is one node of one graph
}

// output returns the op's rows x cols output buffer, reused between runs so
// that a training step does not allocate; callers overwrite every element.
func (o *opBase) output(rows, cols int) *tensor.Dense {
	if o.out == nil || o.out.Shape()[0] != rows || o.out.Shape()[1] != cols {
		o.out = newMatrix(rows, cols)
	}
	return o.out
}

func (o *opBase) Arity() int            { return o.arity }
func (o *opBase) ReturnsPtr() bool      { return false }
func (o *opBase) CallsExtern() bool     { return false }
func (o *opBase) OverwritesInput() int  { return -1 }
func (o *opBase) WriteHash(h hash.Hash) { fmt.Fprintf(h, "analogloop.%s#%d", o.kind, o.id) }
func (o *opBase) String() string        { return fmt.Sprintf("%s#%d", o.kind, o.id) }
func (o *opBase) Hashcode() uint32      { h := fnv.New32a(); o.WriteHash(h); return h.Sum32() }
func matrixType() G.TensorType          { return G.TensorType{Dims: 2, Of: hm.TypeVariable('a')} }
func fnType(n int, ret hm.Type) hm.Type { return hm.NewFnType(append(repeat(matrixType(), n), ret)...) }

func repeat(t hm.Type, n int) []hm.Type {
	ts := make([]hm.Type, n)
	for i := range ts {
		ts[i] = t
	}
	return ts
}

// f32 returns the float32 backing of a value this package works on.
func f32(v G.Value) ([]float32, error) {
	t, ok := v.(tensor.Tensor)
	if !ok {
		return nil, fmt.Errorf("layers: got %T, want a float32 tensor", v)
	}
	d, ok := t.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("layers: got %v data, want float32", t.Dtype())
	}
	return d, nil
}

// f32Pair returns the float32 backings of an op's first two inputs.
func f32Pair(vals []G.Value) (a, b []float32, err error) {
	if a, err = f32(vals[0]); err != nil {
		return nil, nil, err
	}
	b, err = f32(vals[1])
	return a, b, err
}

func newMatrix(rows, cols int) *tensor.Dense {
	return tensor.New(tensor.WithShape(rows, cols), tensor.Of(tensor.Float32))
}

func base(kind string, id int64, arity int) opBase { return opBase{kind: kind, id: id, arity: arity} }
