//go:build amd64 && !purego

package analogmac

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpApprox: the edge test decides with expApprox only where y is more
// than 1e-12 (relative) away from it, so expApprox must be far closer than
// that to math.Exp over the test's whole domain, -zigR^2/2 .. 0.
func TestExpApprox(t *testing.T) {
	if !vectorNoise() {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	lo := -0.5 * zigR * zigR
	worst := 0.0
	for i := range 2000000 {
		x := lo * float64(i) / 2000000
		if i%2 == 1 {
			x = lo * rng.Float64()
		}
		got, want := expApprox(x), math.Exp(x)
		worst = max(worst, math.Abs(got/want-1))
	}
	if worst > 1e-14 {
		t.Fatalf("expApprox is off by %.3g (relative) somewhere: too close to the 1e-12 margin", worst)
	}
	t.Logf("worst relative error %.3g", worst)
}
