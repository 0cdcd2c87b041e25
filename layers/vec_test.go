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

func TestReLUVectorMatchesForward(t *testing.T) {
	for shift := 0; shift <= MaxShift; shift++ {
		r, _ := NewConvertingReLU(shift)
		for _, n := range []int{1, 63, 64, 65, 256, 300} {
			y := make([]int8, n)
			for i := range y {
				y[i] = int8(i*37 + shift)
			}
			u := make([]uint8, n)
			if !reluVector(u, y, shift) {
				t.Skip("no vector path here")
			}
			f := make([]float32, n)
			for i, v := range y {
				f[i] = float32(v)
			}
			r.Forward(f, f, false)
			for i := range y {
				if float32(u[i]) != f[i] {
					t.Fatalf("shift %d: relu(%d) = %d, Forward gives %g", shift, y[i], u[i], f[i])
				}
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
