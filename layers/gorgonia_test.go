package layers

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestGorgoniaGraphRuns proves the pinned Gorgonia starts and computes on
// this Go version: without the upgraded go4.org/unsafe/assume-no-moving-gc
// every binary that imports it panics at start-up on Go 1.26.
func TestGorgoniaGraphRuns(t *testing.T) {
	g := G.NewGraph()
	a := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 2), G.WithName("a"),
		G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))))
	b := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 2), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{5, 6, 7, 8}))))
	c := G.Must(G.Mul(a, b))
	loss := G.Must(G.Sum(c))
	grads, err := G.Grad(loss, a)
	if err != nil {
		t.Fatal(err)
	}
	var cv, gv G.Value
	G.Read(c, &cv)
	G.Read(grads[0], &gv)
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	// [1 2; 3 4] @ [5 6; 7 8] and d sum / d a = ones @ b^T.
	closeAll(t, "a@b", cv.Data().([]float32), []float32{19, 22, 43, 50})
	closeAll(t, "grad", gv.Data().([]float32), []float32{11, 15, 11, 15})
}
