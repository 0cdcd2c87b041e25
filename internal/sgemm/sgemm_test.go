package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/analogloop/analogloop/internal/benchcpu"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// gonumMul is the reference: gonum's Gemm with beta 0.
func gonumMul(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	t := blas.NoTrans
	ar, ac := m, k
	if transA {
		t = blas.Trans
		ar, ac = k, m
	}
	blas32.Gemm(t, blas.NoTrans, alpha,
		blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas32.General{Rows: k, Cols: n, Stride: ldb, Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}

// values draws operands whose products and sums are not exact in float32,
// with zeros as in activations, so that any change in the order or
// rounding of the arithmetic shows.
func values(rng *rand.Rand, n int, zeros bool) []float32 {
	v := make([]float32, n)
	for i := range v {
		if zeros && rng.IntN(3) == 0 {
			continue
		}
		v[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(9)-4)))
	}
	return v
}

type shape struct{ m, n, k int }

// shapes covers every path of the kernels (row remainders, 16-wide blocks,
// masked tails of 1..15 columns) and the products of a training step.
func shapes() []shape {
	s := []shape{
		{1, 1, 1}, {3, 5, 7}, {4, 16, 1}, {5, 17, 3}, {7, 31, 9}, {8, 8, 8}, {9, 33, 2},
		{2500, 20, 100}, {100, 128, 128}, {100, 10, 128}, {100, 128, 10}, {128, 10, 100},
		{100, 500, 128}, {500, 128, 100}, {100, 20, 2500}, {13, 250, 40},
	}
	for n := 1; n <= 40; n++ {
		s = append(s, shape{6, n, 11})
	}
	return s
}

func bitsEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d = %v (%#x), gonum %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestMulMatchesGonumBitForBit: both kernels (assembly where available,
// plain Go always) against gonum's Gemm, for both layouts of a, several
// alphas, strides wider than the rows, serial and parallel.
func TestMulMatchesGonumBitForBit(t *testing.T) { checkMul(t) }

func checkMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes() {
		for _, trans := range []bool{false, true} {
			for _, alpha := range []float32{1, 0.0054, -3.7} {
				name := fmt.Sprintf("%dx%dx%d/trans=%v/alpha=%g", s.m, s.n, s.k, trans, alpha)
				ar, ac := s.m, s.k
				if trans {
					ar, ac = s.k, s.m
				}
				lda, ldb, ldc := ac+rng.IntN(3), s.n+rng.IntN(3), s.n+rng.IntN(3)
				a := values(rng, (ar-1)*lda+ac, true)
				b := values(rng, (s.k-1)*ldb+s.n, false)
				want := make([]float32, (s.m-1)*ldc+s.n)
				gonumMul(trans, s.m, s.n, s.k, alpha, a, lda, b, ldb, want, ldc)
				for _, v := range []struct {
					kernel string
					mul    func(bool, int, int, int, float32, []float32, int, []float32, int, []float32, int)
				}{{"parallel", Mul}, {"serial", MulSerial}, {"go", mulGo}} {
					if v.kernel == "go" && s.m*s.n*s.k > 1<<20 {
						continue // slow under -race; the purego build tests it whole
					}
					got := values(rng, len(want), false) // garbage to overwrite
					v.mul(trans, s.m, s.n, s.k, alpha, a, lda, b, ldb, got, ldc)
					for i := range s.m {
						bitsEqual(t, name+"/"+v.kernel, got[i*ldc:i*ldc+s.n], want[i*ldc:i*ldc+s.n])
					}
				}
			}
		}
	}
}

// TestMulU8MatchesGonum: uint8 inputs give what float32 copies of them
// give.
func TestMulU8MatchesGonum(t *testing.T) { checkMulU8(t) }

func checkMulU8(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range shapes() {
		lda := s.k + rng.IntN(3)
		a8 := make([]uint8, (s.m-1)*lda+s.k)
		a := make([]float32, len(a8))
		for i := range a8 {
			if rng.IntN(3) > 0 {
				a8[i] = uint8(rng.IntN(256))
				a[i] = float32(a8[i])
			}
		}
		b := values(rng, s.k*s.n, false)
		want := make([]float32, s.m*s.n)
		gonumMul(false, s.m, s.n, s.k, 1, a, lda, b, s.n, want, s.n)
		for kernel, mul := range map[string]func(int, int, int, []uint8, int, []float32, int, []float32, int){
			"parallel": MulU8, "serial": MulU8Serial, "go": mulU8Go,
		} {
			got := values(rng, len(want), false)
			mul(s.m, s.n, s.k, a8, lda, b, s.n, got, s.n)
			bitsEqual(t, fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, kernel), got, want)
		}
	}
}

func mulGo(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	op := f32Operand(transA, m, k, a, lda)
	rowsGo(&op, 0, m, n, k, alpha, b, ldb, c, ldc)
}

func mulU8Go(m, n, k int, a []uint8, lda int, b []float32, ldb int, c []float32, ldc int) {
	op := u8Operand(false, m, k, a, lda)
	rowsGo(&op, 0, m, n, k, 1, b, ldb, c, ldc)
}

// TestMulU8TMatchesGonum: transposed uint8 inputs with a scale, as the
// weight gradients of a device layer use them.
func TestMulU8TMatchesGonum(t *testing.T) { checkMulU8T(t) }

func checkMulU8T(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range shapes() {
		lda := s.m + rng.IntN(3)
		a8 := make([]uint8, (s.k-1)*lda+s.m)
		a := make([]float32, len(a8))
		for i := range a8 {
			if rng.IntN(3) > 0 {
				a8[i] = uint8(rng.IntN(32))
				a[i] = float32(a8[i])
			}
		}
		b := values(rng, s.k*s.n, false)
		for _, alpha := range []float32{1, 0.0054} {
			want := make([]float32, s.m*s.n)
			gonumMul(true, s.m, s.n, s.k, alpha, a, lda, b, s.n, want, s.n)
			got := values(rng, len(want), false)
			MulU8T(s.m, s.n, s.k, alpha, a8, lda, b, s.n, got, s.n)
			bitsEqual(t, fmt.Sprintf("%dx%dx%d/alpha=%g", s.m, s.n, s.k, alpha), got, want)
			op := u8Operand(true, s.m, s.k, a8, lda)
			rowsGo(&op, 0, s.m, s.n, s.k, alpha, b, s.n, got, s.n)
			bitsEqual(t, fmt.Sprintf("%dx%dx%d/alpha=%g/go", s.m, s.n, s.k, alpha), got, want)
		}
	}
}

func TestMulRejectsShortOperands(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a b too short")
		}
	}()
	Mul(false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 3), 2, make([]float32, 4), 2)
}

func TestMulAllocatesNothing(t *testing.T) {
	a, b, c := make([]float32, 500*100), make([]float32, 500*128), make([]float32, 100*128)
	if n := testing.AllocsPerRun(20, func() { Mul(true, 500, 128, 100, 0.5, a, 500, c, 128, b, 128) }); n != 0 {
		t.Errorf("Mul: %v allocations per call", n)
	}
}

// BenchmarkMul times the products of one training step of the MNIST
// network at batch 100 and reports multiply-accumulates per second.
func BenchmarkMul(b *testing.B) {
	for _, c := range []struct {
		name    string
		trans   bool
		m, n, k int
	}{
		{"conv2500x100x20", false, 2500, 20, 100},
		{"block100x128x256", false, 100, 256, 128},
		{"gradX100x128x500", false, 100, 500, 128},
		{"gradW500x100x128", true, 500, 128, 100},
		{"gradWconv100x2500x20", true, 100, 20, 2500},
	} {
		b.Run(c.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			a := values(rng, c.m*c.k, true)
			bm := values(rng, c.k*c.n, false)
			out := make([]float32, c.m*c.n)
			lda := c.k
			if c.trans {
				lda = c.m
			}
			cpu := benchcpu.Start()
			for b.Loop() {
				Mul(c.trans, c.m, c.n, c.k, 0.5, a, lda, bm, c.n, out, c.n)
			}
			cpu.Report(b)
			b.ReportMetric(float64(c.m*c.n*c.k)*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
		})
	}
}
