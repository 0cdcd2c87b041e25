package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

// TestAdamStepMatchesScalarLoop: Adam's update (AVX-512 where available,
// in parallel parts) gives exactly the numbers of the plain loop, for
// lengths with and without a partial last vector and over several steps.
func TestAdamStepMatchesScalarLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for _, c := range []struct {
		n     int
		clamp bool
	}{{1, false}, {15, true}, {16, false}, {17, true}, {100, false}, {20000, true}, {64000, false}, {64000, true}} {
		n := c.n
		p := &Param{Name: "p", Value: newMatrix(1, n)}
		if c.clamp {
			// As an analog layer's weights: clamped to +-63 after each step.
			a, err := NewDense("d", n/4+1, 4, 1, analogmac.Placement{})
			if err != nil {
				t.Fatal(err)
			}
			p = a.Params()[0]
			n = len(p.Data())
			if p.clampMax != analogmac.WeightMax {
				t.Fatalf("an analog layer's parameter does not say how it is clamped")
			}
		}
		w := p.Data()
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 40)
		}
		ref := append([]float32(nil), w...)
		rm, rv := make([]float32, n), make([]float32, n)
		clamped := 0
		a := NewAdam(3) // large steps: weights cross the clamp
		g := make([]float32, n)
		for step := 1; step <= 5; step++ {
			for i := range g {
				g[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-4)))
			}
			if err := a.Update([]*Param{p}, [][]float32{g}); err != nil {
				t.Fatal(err)
			}
			// The loop as it was written before it was vectorised.
			tt := float64(step)
			b1, b2 := float32(a.Beta1), float32(a.Beta2)
			lr := float32(a.LR * math.Sqrt(1-math.Pow(a.Beta2, tt)) / (1 - math.Pow(a.Beta1, tt)))
			eps := float32(a.Eps)
			for j, gj := range g {
				rm[j] = b1*rm[j] + (1-b1)*gj
				rv[j] = b2*rv[j] + (1-b2)*gj*gj
				ref[j] -= lr * rm[j] / (float32(math.Sqrt(float64(rv[j]))) + eps)
				if c.clamp {
					if math.Abs(float64(ref[j])) > analogmac.WeightMax {
						clamped++
					}
					ref[j] = max(-analogmac.WeightMax, min(analogmac.WeightMax, ref[j]))
				}
			}
			for j := range w {
				if math.Float32bits(w[j]) != math.Float32bits(ref[j]) || a.State.M[0][j] != rm[j] || a.State.V[0][j] != rv[j] {
					t.Fatalf("n %d step %d element %d: w %v m %v v %v, the loop gives %v %v %v", n, step, j, w[j], a.State.M[0][j], a.State.V[0][j], ref[j], rm[j], rv[j])
				}
			}
		}
		if c.clamp && clamped == 0 {
			t.Fatalf("n %d: no weight crossed the clamp", n)
		}
	}
}

// TestFirstNonFinite puts one NaN or infinity at every position of
// slices of lengths around the block size, beside large finite values,
// and checks the index against a plain scan.
func TestFirstNonFinite(t *testing.T) {
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{0, 1, 3, 255, 256, 257, 1000} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%7-3) * (math.MaxFloat32 / 4)
		}
		if got := firstNonFinite(v); got != -1 {
			t.Fatalf("n=%d, all finite: got %d, want -1", n, got)
		}
		for i := range v {
			for _, x := range bad {
				old := v[i]
				v[i] = x
				if got := firstNonFinite(v); got != i {
					t.Fatalf("n=%d, %v at %d: got %d", n, x, i, got)
				}
				v[i] = old
			}
		}
	}
}

func BenchmarkNonFinite(b *testing.B) {
	v := make([]float32, 500*128)
	for i := range v {
		v[i] = float32(i) / 7
	}
	for b.Loop() {
		if firstNonFinite(v) != -1 {
			b.Fatal("non-finite")
		}
	}
}
