package analogmac

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// refRun is the data path as it was before the engine was optimised
// (commit ddaf8e2): inputs converted to float32, one gonum Gemm per row
// block over the whole batch, then the digitisation loops, serially, with
// the noise of noise.go drawn row block by row block. The optimised engine
// must give exactly its outputs: the default training run's results depend
// on every bit, and for the chip the order of the float32 sums is part of
// the definition.
func refRun(p *program, x []uint8, batch int, seed uint64) []int8 {
	s := Shape{Batch: batch, Rows: p.m.Rows, Cols: p.m.Cols}
	xf := make([]float32, len(x))
	for i, v := range x {
		xf[i] = float32(v)
	}
	nb := (s.Rows + BlockRows - 1) / BlockRows
	plane := s.Batch * s.Cols
	acc := make([]float32, nb*plane)
	for k := range nb {
		r0 := k * BlockRows
		r1 := min(r0+BlockRows, s.Rows)
		a := blas32.General{Rows: s.Batch, Cols: r1 - r0, Stride: s.Rows, Data: xf[r0:]}
		b := blas32.General{Rows: r1 - r0, Cols: s.Cols, Stride: s.Cols, Data: p.w[r0*s.Cols:]}
		c := blas32.General{Rows: s.Batch, Cols: s.Cols, Stride: s.Cols, Data: acc[k*plane : (k+1)*plane]}
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c)
	}
	dst := make([]int8, batch*s.Cols)
	tot := make([]int32, s.Cols)
	noise := make([]float64, s.Cols)
	var rng normals
	for ch := 0; ch*noiseChunkRows < batch; ch++ {
		rng.seed(seed ^ mix64(uint64(ch)))
		for b := ch * noiseChunkRows; b < min(batch, (ch+1)*noiseChunkRows); b++ {
			row := b * s.Cols
			clear(tot)
			for blk := range nb {
				a := acc[blk*plane+row:][:s.Cols]
				noisy := p.kind != postIdeal && p.std != 0
				if noisy {
					rng.fill(noise)
				}
				for c, a := range a {
					var v float64
					switch {
					case p.kind == postChip && noisy:
						v = saturate(p.colScale[c]*float64(a)+p.colOff[c]+p.std*noise[c], p.colLin[c], p.invHead)
					case p.kind == postChip:
						v = saturate(p.colScale[c]*float64(a)+p.colOff[c], p.colLin[c], p.invHead)
					case noisy:
						v = p.k*float64(a) + p.std*noise[c]
					default:
						v = p.k * float64(a)
					}
					tot[c] += clampOut(math.Floor(v))
				}
			}
			store(dst[row:][:s.Cols], tot)
		}
	}
	return dst
}

// TestEngineMatchesReference runs every device kind on shapes that cover
// row blocks, partial chunks, wide and narrow outputs, with several keys,
// serially and in parallel, and compares every output with refRun.
func TestEngineMatchesReference(t *testing.T) {
	shapes := append([]Shape{
		{Batch: 2500, Rows: 100, Cols: 20},
		{Batch: 100, Rows: 128, Cols: 10},
		{Batch: 61, Rows: 255, Cols: 33},
	}, testShapes...)
	for _, procs := range []int{1, 3} {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		rng := rand.New(rand.NewPCG(5, uint64(procs)))
		for _, kind := range append(Kinds(), "quiet-chip") {
			for _, s := range shapes {
				name := fmt.Sprintf("procs%d/%s/%dx%dx%d", procs, kind, s.Batch, s.Rows, s.Cols)
				var d Device
				var err error
				if kind == "quiet-chip" {
					cfg := DefaultChipConfig()
					cfg.TrialNoiseStd = 0
					d, err = NewChip(1, cfg)
				} else {
					d, err = NewDevice(kind, 1)
				}
				if err != nil {
					t.Fatal(err)
				}
				x, w := randomOperands(rng, s)
				p := Placement{}
				if s.Cols <= BlockCols {
					p.Column = rng.IntN(ArrayCols - s.Cols + 1)
				}
				prog, err := d.Program(context.Background(), Matrix{Rows: s.Rows, Cols: s.Cols, Weights: w, Sends: 1 + rng.IntN(8), Placement: p})
				if err != nil {
					t.Fatal(err)
				}
				dst := make([]int8, s.Batch*s.Cols)
				for key := uint64(1); key <= 3; key++ {
					if err := prog.Run(context.Background(), dst, x, s.Batch, key*0x9e37); err != nil {
						t.Fatal(err)
					}
					want := refRun(prog.(*program), x, s.Batch, key*0x9e37)
					if i := firstDiff(dst, want); i >= 0 {
						t.Fatalf("%s key %d: output %d is %d, the reference engine gives %d", name, key, i, dst[i], want[i])
					}
				}
				prog.Close()
			}
		}
	}
}

// TestUpdatePreparesWhatProgramDoes: an Update that changes one weight, a
// few or most of them leaves exactly the effective weights a new Program
// of the same matrix has, on every device; an Update with a weight out of
// range is refused as Check refuses it, and changes nothing.
func TestUpdatePreparesWhatProgramDoes(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 8))
	s := Shape{Batch: 5, Rows: 300, Cols: 140}
	for _, kind := range Kinds() {
		d, err := NewDevice(kind, 3)
		if err != nil {
			t.Fatal(err)
		}
		_, w := randomOperands(rng, s)
		m := Matrix{Rows: s.Rows, Cols: s.Cols, Weights: w, Sends: 2, Placement: Placement{Column: 300}}
		prog, err := d.Program(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		for _, changes := range []int{1, 17, len(w) / 2} {
			w2 := slices.Clone(w)
			for range changes {
				w2[rng.IntN(len(w2))] = int8(rng.IntN(2*WeightMax+1) - WeightMax)
			}
			if err := prog.(Updater).Update(ctx, w2); err != nil {
				t.Fatal(err)
			}
			m2 := m
			m2.Weights = w2
			fresh, err := d.Program(ctx, m2)
			if err != nil {
				t.Fatal(err)
			}
			got, want := prog.(*program).w, fresh.(*program).w
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s, %d changes: effective weight %d = %v after Update, %v programmed anew", kind, changes, i, got[i], want[i])
				}
			}
			fresh.Close()
			w = w2
		}
		bad := slices.Clone(w)
		bad[1234] = -WeightMax - 1
		m.Weights = bad
		wantErr := Check(m)
		err = prog.(Updater).Update(ctx, bad)
		if err == nil || wantErr == nil || err.Error() != wantErr.Error() {
			t.Fatalf("%s: Update with a weight out of range: %v, Check says %v", kind, err, wantErr)
		}
		if prog.(*program).q[1234] != w[1234] {
			t.Fatalf("%s: a refused Update changed the weights", kind)
		}
		prog.Close()
	}
}

// TestFirstAboveInputMax against the plain loop, for every position of a
// bad input in short slices and in slices of several 64-byte blocks (the
// AVX-512 path), and every kind of bad value.
func TestFirstAboveInputMax(t *testing.T) {
	if (InputMax+1)&InputMax != 0 {
		t.Fatal("InputMax+1 is not a power of two: the word test needs it")
	}
	lengths := []int{63, 64, 65, 127, 128, 129, 200, 257}
	for n := range 40 {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for pos := -1; pos < n; pos++ {
			for _, bad := range []uint8{InputMax + 1, 64, 128, 255} {
				x := make([]uint8, n)
				for i := range x {
					x[i] = uint8(i % (InputMax + 1))
				}
				want := -1
				if pos >= 0 {
					x[pos] = bad
					want = pos
				}
				if got := firstAboveInputMax(x); got != want {
					t.Fatalf("n %d, %d at %d: got %d", n, bad, pos, got)
				}
			}
		}
	}
}
