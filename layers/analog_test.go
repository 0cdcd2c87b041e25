package layers

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/analogloop/analogloop/analogmac"
)

func filled(rows, cols int, f func() float32) *tensor.Dense {
	t := newMatrix(rows, cols)
	for i := range t.Data().([]float32) {
		t.Data().([]float32)[i] = f()
	}
	return t
}

// products builds loss = sum(y .* r) for y = the layer's product of x, and
// returns y, dLoss/dx and dLoss/dW.
func products(t *testing.T, d *Dense, ex *Exec, x, r *tensor.Dense) (y, gx, gw []float32) {
	t.Helper()
	g := G.NewGraph()
	xn := G.NewMatrix(g, tensor.Float32, G.WithShape(x.Shape()...), G.WithName("x"), G.WithValue(x))
	rn := G.NewMatrix(g, tensor.Float32, G.WithShape(r.Shape()...), G.WithName("r"), G.WithValue(r))
	yn, err := d.Apply(xn, ex)
	if err != nil {
		t.Fatal(err)
	}
	return runLoss(t, g, yn, rn, xn, g.ByName(d.Params()[0].Name)[0])
}

func runLoss(t *testing.T, g *G.ExprGraph, yn, rn, xn, wn *G.Node) (y, gx, gw []float32) {
	t.Helper()
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(yn, rn))))
	grads, err := G.Grad(loss, xn, wn)
	if err != nil {
		t.Fatal(err)
	}
	var yv, gxv, gwv G.Value
	G.Read(yn, &yv)
	G.Read(grads[0], &gxv)
	G.Read(grads[1], &gwv)
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	cp := func(v G.Value) []float32 { return append([]float32(nil), v.Data().([]float32)...) }
	return cp(yv), cp(gxv), cp(gwv)
}

// TestAnalogMatchesGorgoniaMatMul: with the noise off, the analog op's
// forward pass and both gradients equal those of gain*sends*(x @ W) built
// from Gorgonia's own Mul (float mode exactly; on a device the forward pass
// is floored per 128-row block, so it is below by less than one LSB per
// block), and the gradients are those of the ideal product on every device.
func TestAnalogMatchesGorgoniaMatMul(t *testing.T) {
	const batch, in, out, sends = 6, 300, 40, 20
	rng := rand.New(rand.NewPCG(7, 7))
	x := filled(batch, in, func() float32 { return float32(rng.IntN(8)) })
	w := filled(in, out, func() float32 { return float32(rng.IntN(11) - 5) })
	r := filled(batch, out, func() float32 { return float32(rng.NormFloat64()) })

	g := G.NewGraph()
	xn := G.NewMatrix(g, tensor.Float32, G.WithShape(batch, in), G.WithName("x"), G.WithValue(x))
	wn := G.NewMatrix(g, tensor.Float32, G.WithShape(in, out), G.WithName("w"), G.WithValue(w))
	rn := G.NewMatrix(g, tensor.Float32, G.WithShape(batch, out), G.WithName("r"), G.WithValue(r))
	k := G.NewScalar(g, tensor.Float32, G.WithName("k"), G.WithValue(float32(analogmac.DefaultGain*sends)))
	yref := G.Must(G.Mul(G.Must(G.Mul(xn, wn)), k))
	ref, refGX, refGW := runLoss(t, g, yref, rn, xn, wn)

	blocks := float32((in + analogmac.BlockRows - 1) / analogmac.BlockRows)
	for _, dev := range []analogmac.Device{nil, analogmac.NewIdeal(), &analogmac.Mock{GainPerSend: analogmac.DefaultGain}} {
		ex := NewExec(dev, analogmac.DefaultGain)
		t.Run(ex.String(), func(t *testing.T) {
			defer ex.Close()
			d, err := NewDense("d", in, out, sends, analogmac.Placement{})
			if err != nil {
				t.Fatal(err)
			}
			copy(d.Weights(), w.Data().([]float32))
			y, gx, gw := products(t, d, ex, x, r)
			for i := range y {
				if math.Abs(float64(ref[i])) > 100 {
					t.Fatalf("reference output %g would clamp: test inputs too large", ref[i])
				}
				diff := ref[i] - y[i]
				if dev == nil && math.Abs(float64(diff)) > 1e-3 {
					t.Fatalf("float y[%d] = %g, Gorgonia %g", i, y[i], ref[i])
				}
				if dev != nil && (diff < -1e-3 || diff >= blocks) {
					t.Fatalf("device y[%d] = %g, Gorgonia %g: want floor per block, within %g below", i, y[i], ref[i], blocks)
				}
			}
			closeAll(t, "dx", gx, refGX)
			closeAll(t, "dW", gw, refGW)
		})
	}
}

func closeAll(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %g, want %g", name, i, got[i], want[i])
		}
	}
}

// TestSameShapeLayersDrawDifferentNoise: two layers of equal shape and
// weights on the same input are two nodes (no hash-consing merge), each
// drawing its own noise; reseeding reproduces both.
func TestSameShapeLayersDrawDifferentNoise(t *testing.T) {
	ex := NewExec(analogmac.NewMock(), analogmac.DefaultGain)
	defer ex.Close()
	var ds [2]*Dense
	for i := range ds {
		d, err := NewDense("twin", 64, 32, 8, analogmac.Placement{})
		if err != nil {
			t.Fatal(err)
		}
		for j := range d.Weights() {
			d.Weights()[j] = float32(j%21 - 10)
		}
		ds[i] = d
	}
	g := G.NewGraph()
	x := filled(4, 64, func() float32 { return 20 })
	xn := G.NewMatrix(g, tensor.Float32, G.WithShape(4, 64), G.WithName("x"), G.WithValue(x))
	var vals [2]G.Value
	for i, d := range ds {
		y, err := d.Apply(xn, ex)
		if err != nil {
			t.Fatal(err)
		}
		G.Read(y, &vals[i])
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	run := func() [2][]float32 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return [2][]float32{append([]float32(nil), vals[0].Data().([]float32)...), append([]float32(nil), vals[1].Data().([]float32)...)}
	}
	ex.Begin(context.Background(), analogmac.NewNoiseKeys(11))
	first := run()
	differ := 0
	for i := range first[0] {
		if first[0][i] != first[1][i] {
			differ++
		}
	}
	if differ < len(first[0])/4 {
		t.Fatalf("twin layers differ in %d of %d outputs: noise shared or nodes merged", differ, len(first[0]))
	}
	ex.Begin(context.Background(), analogmac.NewNoiseKeys(11))
	again := run()
	for k := range again {
		closeAll(t, "reseeded", again[k], first[k])
	}
	ex.Device = analogmac.NewIdeal()
	for _, k := range ex.kernels {
		k.Close() // programmed on the mock
	}
	ideal := run()
	closeAll(t, "ideal twins", ideal[1], ideal[0])
}

func TestNewDenseRejectsBadArguments(t *testing.T) {
	for _, c := range []struct{ in, out, sends int }{{0, 4, 1}, {4, 0, 1}, {4, 4, 0}} {
		if _, err := NewDense("bad", c.in, c.out, c.sends, analogmac.Placement{}); err == nil {
			t.Errorf("NewDense(%d, %d, sends %d) accepted", c.in, c.out, c.sends)
		}
	}
	if _, err := NewDense("bad", 4, 4, 1, analogmac.Placement{Column: 600}); err == nil {
		t.Error("placement past the array accepted")
	}
}

func TestDeviceRefusesNonIntegerInputs(t *testing.T) {
	ex := NewExec(analogmac.NewIdeal(), analogmac.DefaultGain)
	defer ex.Close()
	d, _ := NewDense("d", 3, 2, 1, analogmac.Placement{})
	k := d.NewKernel(ex)
	y := make([]float32, 2)
	for _, bad := range []float32{0.5, -1, 32} {
		if err := k.Forward(y, []float32{1, bad, 3}, 1); err == nil {
			t.Errorf("input %g accepted", bad)
		}
	}
	if err := k.Forward(y, []float32{1, 31, 0}, 1); err != nil {
		t.Errorf("valid input refused: %v", err)
	}
}

// TestQuantizeWeightRounds: the fast path gives math.Round's integer for
// every float32 near the range, and the edges and non-finite values fall
// through to it.
func TestQuantizeWeightRounds(t *testing.T) {
	ref := func(v float32) int8 {
		r := math.Round(float64(v))
		return int8(max(-analogmac.WeightMax, min(analogmac.WeightMax, r)))
	}
	check := func(v float32) {
		if got, want := QuantizeWeight(v), ref(v); got != want {
			t.Fatalf("QuantizeWeight(%v) = %d, math.Round gives %d", v, got, want)
		}
	}
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 0.5, -0.5, 0.49999997, -0.49999997, 1.5, -1.5, 62.5, -62.5, 63.4999, 63.5, -63.5, 64, 1e9} {
		check(v)
	}
	// Every float32 around each half-integer in range.
	for h := float32(-64.5); h <= 64.5; h++ {
		v := h
		for range 4 {
			v = math.Nextafter32(v, -100)
		}
		for range 9 {
			check(v)
			v = math.Nextafter32(v, 100)
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 200000 {
		check(float32(rng.Float64()*140 - 70))
	}
}

func TestQuantizeWeight(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want int8
	}{{0.49, 0}, {0.5, 1}, {-0.5, -1}, {-2.6, -3}, {62.7, 63}, {80, 63}, {-99, -63}} {
		if got := QuantizeWeight(c.in); got != c.want {
			t.Errorf("QuantizeWeight(%g) = %d, want %d", c.in, got, c.want)
		}
	}
}
