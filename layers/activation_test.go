package layers

import (
	"math/rand/v2"
	"testing"
)

func TestConvertingReLU(t *testing.T) {
	y := []float32{-128, -1, 0, 1, 2, 3, 61, 62, 63, 64, 127}
	cases := []struct {
		device bool
		want   []float32
	}{
		{true, []float32{0, 0, 0, 0, 1, 1, 30, 31, 31, 31, 31}},
		{false, []float32{0, 0, 0, 0.5, 1, 1.5, 30.5, 31, 31, 31, 31}},
	}
	for _, c := range cases {
		r, err := NewConvertingReLU(1)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(y))
		r.Forward(got, y, !c.device)
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("device %v: relu(%g) = %g, want %g", c.device, y[i], got[i], c.want[i])
			}
		}
	}
	if _, err := NewConvertingReLU(-1); err == nil {
		t.Error("negative shift accepted")
	}
}

// TestIm2ColIsAConvolution compares Im2Col followed by a product with a
// direct convolution, and checks Col2Im is its adjoint.
func TestIm2ColIsAConvolution(t *testing.T) {
	g, err := NewGeometry(9, 7, 2, 3, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if g.OutH != 5 || g.OutW != 4 || g.PatchRows != 18 {
		t.Fatalf("geometry %+v: want 5x4 outputs of 18 rows", g)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const batch = 2
	x := make([]float32, batch*g.InputsPerSample)
	for i := range x {
		x[i] = float32(rng.IntN(32))
	}
	k := make([]float32, g.PatchRows) // one output channel
	for i := range k {
		k[i] = float32(rng.IntN(7) - 3)
	}
	cols := make([]float32, batch*g.Patches*g.PatchRows)
	g.Im2Col(cols, x, batch)
	for b := 0; b < batch; b++ {
		for oy := 0; oy < g.OutH; oy++ {
			for ox := 0; ox < g.OutW; ox++ {
				var direct, viaCols float32
				for ky := 0; ky < 3; ky++ {
					for kx := 0; kx < 3; kx++ {
						for c := 0; c < 2; c++ {
							iy, ix := oy*2-1+ky, ox*2-1+kx
							if iy >= 0 && iy < 9 && ix >= 0 && ix < 7 {
								direct += x[b*g.InputsPerSample+(iy*7+ix)*2+c] * k[(ky*3+kx)*2+c]
							}
						}
					}
				}
				row := cols[((b*g.OutH+oy)*g.OutW+ox)*g.PatchRows:][:g.PatchRows]
				for i, v := range row {
					viaCols += v * k[i]
				}
				if direct != viaCols {
					t.Fatalf("sample %d output (%d,%d): im2col %g, direct %g", b, oy, ox, viaCols, direct)
				}
			}
		}
	}
	// <Im2Col(x), c> == <x, Col2Im(c)>
	c := make([]float32, len(cols))
	for i := range c {
		c[i] = float32(rng.IntN(9) - 4)
	}
	dx := make([]float32, len(x))
	g.Col2Im(dx, c, batch)
	var lhs, rhs float32
	for i := range cols {
		lhs += cols[i] * c[i]
	}
	for i := range x {
		rhs += x[i] * dx[i]
	}
	if lhs != rhs {
		t.Fatalf("Col2Im is not the adjoint of Im2Col: %g != %g", lhs, rhs)
	}
}

// TestIm2ColBytesMatchesFloat: the 5-bit patches a device layer cuts are
// the float patches, for geometries with and without padding, strides and
// channels, including rows of 1..16 bytes (the word-copy path) and longer.
func TestIm2ColBytesMatchesFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, c := range []struct{ h, w, ch, k, s, p int }{
		{28, 28, 1, 10, 5, 1}, {9, 7, 2, 3, 2, 1}, {6, 6, 1, 6, 1, 0}, {12, 11, 3, 5, 3, 2},
		{8, 8, 4, 4, 2, 0}, {20, 20, 1, 16, 4, 3}, {5, 5, 2, 1, 1, 0},
	} {
		g, err := NewGeometry(c.h, c.w, c.ch, c.k, c.s, c.p)
		if err != nil {
			t.Fatal(err)
		}
		const batch = 3
		x8 := make([]uint8, batch*g.InputsPerSample)
		x := make([]float32, len(x8))
		for i := range x8 {
			x8[i] = uint8(rng.IntN(32))
			x[i] = float32(x8[i])
		}
		want := make([]float32, batch*g.Patches*g.PatchRows)
		g.Im2Col(want, x, batch)
		got := make([]uint8, len(want))
		for i := range got {
			got[i] = 99 // must all be overwritten
		}
		im2col(g, got, x8, batch)
		for i := range want {
			if float32(got[i]) != want[i] {
				t.Fatalf("%+v: element %d = %d, float patches %g", c, i, got[i], want[i])
			}
		}
	}
}

func TestNewGeometryRejects(t *testing.T) {
	for _, c := range [][6]int{{0, 5, 1, 3, 1, 0}, {5, 5, 1, 0, 1, 0}, {5, 5, 1, 3, 0, 0}, {5, 5, 1, 3, 1, -1}, {5, 5, 1, 8, 1, 1}} {
		if _, err := NewGeometry(c[0], c[1], c[2], c[3], c[4], c[5]); err == nil {
			t.Errorf("NewGeometry%v accepted", c)
		}
	}
}

func TestAdamMinimisesAndClamps(t *testing.T) {
	p := &Param{Name: "p", Value: newMatrix(1, 2)}
	p.Clamp = func() {
		for i, v := range p.Data() {
			p.Data()[i] = min(v, 5)
		}
	}
	target := []float32{3, 9} // the second is out of the clamp's reach
	opt := NewAdam(0.1)
	for i := 0; i < 500; i++ {
		w := p.Data()
		g := []float32{2 * (w[0] - target[0]), 2 * (w[1] - target[1])}
		if err := opt.Update([]*Param{p}, [][]float32{g}); err != nil {
			t.Fatal(err)
		}
	}
	if w := p.Data(); w[0] < 2.95 || w[0] > 3.05 || w[1] != 5 {
		t.Fatalf("after 500 steps w = %v, want about [3 5]", w)
	}
	if err := opt.Update([]*Param{p, p}, [][]float32{{0, 0}, {0, 0}}); err == nil {
		t.Error("changed parameter list accepted")
	}
}
