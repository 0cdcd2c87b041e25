package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// The vector helpers (AVX-512 where available) against the scalar
// definitions, on every length up to a few blocks and with bad values at
// every position.

func TestQuantizeInputsFindsTheFirstBadValue(t *testing.T) {
	ex := NewExec(analogmac.NewIdeal(), analogmac.DefaultGain)
	defer ex.Close()
	d, _ := NewDense("d", 7, 2, 1, analogmac.Placement{})
	k := d.NewKernel(ex)
	rng := rand.New(rand.NewPCG(1, 5))
	bads := []float32{0.5, -1, 32, 31.5, 256, -0.25, float32(math.NaN()), float32(math.Inf(1)), 1e10, -1e10}
	for n := 0; n <= 70; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.IntN(32))
			if rng.IntN(7) == 0 {
				x[i] = float32(math.Copysign(0, -1))
			}
		}
		xq := make([]uint8, n)
		if err := k.quantizeInputs(xq, x); err != nil {
			t.Fatalf("n %d: valid inputs refused: %v", n, err)
		}
		for i := range x {
			if xq[i] != uint8(x[i]) {
				t.Fatalf("n %d: input %d = %v became %d", n, i, x[i], xq[i])
			}
		}
		for pos := 0; pos < n; pos++ {
			y := append([]float32(nil), x...)
			y[pos] = bads[rng.IntN(len(bads))]
			if pos+3 < n && rng.IntN(2) == 0 {
				y[pos+3] = 99 // a later bad value must not be the one named
			}
			err := k.quantizeInputs(make([]uint8, n), y)
			want := fmt.Sprintf("input [%d][%d] = %g", pos/7, pos%7, y[pos])
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("n %d, bad %v at %d: %v, want %q", n, y[pos], pos, err, want)
			}
		}
	}
}

// TestConvertReLUMatchesForward: the device-side conversion of a chain
// (analogmac.ConvertReLU) is the ConvertingReLU's forward pass on a
// device, for every int8 output and shift.
func TestConvertReLUMatchesForward(t *testing.T) {
	y := make([]int8, 256)
	f := make([]float32, 256)
	u := make([]uint8, 256)
	for shift := 0; shift <= MaxShift; shift++ {
		r, _ := NewConvertingReLU(shift)
		for i := range y {
			y[i] = int8(i - 128)
			f[i] = float32(y[i])
		}
		r.Forward(f, f, false)
		analogmac.ConvertReLU(u, y, shift)
		for i := range y {
			if float32(u[i]) != f[i] {
				t.Fatalf("shift %d: ConvertReLU(%d) = %d, Forward gives %g", shift, y[i], u[i], f[i])
			}
		}
	}
}

func TestQuantizedWeightsMatchQuantizeWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 9))
	odd := []float32{63.5, -63.5, 64, -100, float32(math.NaN()), float32(math.Inf(-1)), 63.49999, -63.49999, 0.5, -0.5, float32(math.Copysign(0, -1))}
	for n := 0; n <= 70; n++ {
		a := &Analog{W: newMatrix(1, max(n, 1))}
		w := a.Weights()[:n]
		for i := range w {
			w[i] = float32(rng.Float64()*127 - 63.5)
			if rng.IntN(9) == 0 {
				w[i] = odd[rng.IntN(len(odd))]
			}
		}
		got := a.QuantizedWeights(nil)
		for i := range w {
			if want := QuantizeWeight(w[i]); got[i] != want {
				t.Fatalf("n %d: weight %d = %v quantized to %d, QuantizeWeight gives %d", n, i, w[i], got[i], want)
			}
		}
	}
}

// floatCases are values around every boundary of the float-mode loops,
// signed zeros, infinities and NaN.
func floatCases(rng *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), 127, 127.00001, 126.99999, -128, -128.00002, -127.99999, 31, 62, 63, 64,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-45, -1e-45, 300, -300}
	v := make([]float32, n)
	for i := range v {
		if rng.IntN(3) == 0 {
			v[i] = special[rng.IntN(len(special))]
		} else {
			v[i] = float32(rng.NormFloat64() * 100)
		}
	}
	return v
}

func sameFloats(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != got[i] && want[i] != want[i] {
			continue // NaN for NaN: payloads may differ, and mean nothing here
		}
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %v (%#x), the loop gives %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

func TestFloatVectorsMatchLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for n := 1; n <= 50; n++ {
		x := floatCases(rng, n)
		y := append([]float32(nil), x...)
		if !clampVector(y) {
			t.Skip("no vector path here")
		}
		want := make([]float32, n)
		for i, v := range x {
			want[i] = clampOut(v)
		}
		sameFloats(t, "clamp", y, want)

		tot := floatCases(rng, n)
		got := append([]float32(nil), tot...)
		clampAddVector(got, x)
		for i, v := range x {
			tot[i] += clampOut(v)
		}
		sameFloats(t, "clampAdd", got, tot)

		for shift := 0; shift <= MaxShift; shift++ {
			r, _ := NewConvertingReLU(shift)
			div := float32(math.Ldexp(1, -shift))
			got := make([]float32, n)
			reluFloatVector(got, x, div)
			want := make([]float32, n)
			for i, v := range x {
				v = max(0, min(analogmac.OutputMax, v)) * div
				want[i] = min(analogmac.InputMax, v)
			}
			sameFloats(t, fmt.Sprintf("relu shift %d", shift), got, want)
			r.Forward(got, x, true) // through the method, which picks the vector loop
			sameFloats(t, "Forward", got, want)

			g := floatCases(rng, n)
			got = make([]float32, n)
			reluGradFloatVector(got, g, x, div)
			for i, v := range x {
				if v > 0 {
					want[i] = g[i] * div
				} else {
					want[i] = 0
				}
			}
			sameFloats(t, "relu gradient", got, want)
		}
	}
}

// TestIm2ColMatchesDefinition: every element of the patches, for several
// geometries (padded and not, one and more channels, short and long patch
// rows), is the input value under it or +0 in the padding.
func TestIm2ColMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 1))
	for _, c := range []struct{ h, w, ch, k, s, p int }{
		{28, 28, 1, 10, 5, 1}, {9, 7, 2, 3, 2, 1}, {6, 6, 1, 6, 1, 0}, {12, 11, 3, 5, 3, 2}, {20, 20, 1, 17, 3, 2}, {5, 5, 4, 5, 1, 4},
	} {
		g, err := NewGeometry(c.h, c.w, c.ch, c.k, c.s, c.p)
		if err != nil {
			t.Fatal(err)
		}
		const batch = 3
		x := make([]float32, batch*g.InputsPerSample)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		cols := make([]float32, batch*g.Patches*g.PatchRows)
		for i := range cols {
			cols[i] = float32(math.NaN())
		}
		g.Im2Col(cols, x, batch)
		for b := range batch {
			for oy := range g.OutH {
				for ox := range g.OutW {
					for ky := range g.Kernel {
						for kx := range g.Kernel {
							for ch := range g.C {
								iy, ix := oy*g.Stride-g.Pad+ky, ox*g.Stride-g.Pad+kx
								var want float32
								if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
									want = x[b*g.InputsPerSample+(iy*g.W+ix)*g.C+ch]
								}
								got := cols[((b*g.OutH+oy)*g.OutW+ox)*g.PatchRows+(ky*g.Kernel+kx)*g.C+ch]
								if math.Float32bits(got) != math.Float32bits(want) {
									t.Fatalf("%+v: sample %d patch (%d,%d) element (%d,%d,%d) = %v, want %v", c, b, oy, ox, ky, kx, ch, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}
