package layers

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The data-movement routines of a training step (transpose, im2col)
// against plain reference loops, bit for bit, on many shapes.

// refTranspose is the definition: t[j][i] = w[i][j] for rows [r0, r1).
func refTranspose(t, w []float32, rows, cols, r0, r1 int) {
	for i := r0; i < r1; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = w[i*cols+j]
		}
	}
}

// randomBits fills v with arbitrary bit patterns, NaNs included, so that
// any conversion or arithmetic on the way would show.
func randomBits(rng *rand.Rand, v []float32) {
	for i := range v {
		v[i] = math.Float32frombits(rng.Uint32())
	}
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestTransposeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	sizes := []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 64, 65, 100}
	for _, rows := range sizes {
		for _, cols := range sizes {
			w := make([]float32, rows*cols)
			randomBits(rng, w)
			want := make([]float32, len(w))
			refTranspose(want, w, rows, cols, 0, rows)
			// Whole, and in bands of every alignment.
			for _, cut := range [][2]int{{0, rows}, {0, rows / 2}, {rows / 2, rows}, {rows / 3, rows - rows/3}, {rows - 1, rows}} {
				r0, r1 := cut[0], cut[1]
				got := make([]float32, len(w))
				sentinel := math.Float32frombits(0x7fc0dead)
				for i := range got {
					got[i] = sentinel
				}
				transpose(got, w, rows, cols, r0, r1)
				for i := range got {
					inBand := i%rows >= r0 && i%rows < r1
					switch {
					case inBand && math.Float32bits(got[i]) != math.Float32bits(want[i]):
						t.Fatalf("%dx%d rows [%d,%d): t[%d] = %#x, want %#x", rows, cols, r0, r1, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
					case !inBand && math.Float32bits(got[i]) != 0x7fc0dead:
						t.Fatalf("%dx%d rows [%d,%d): t[%d] outside the band written", rows, cols, r0, r1, i)
					}
				}
			}
		}
	}
}

// TestTransposeBodyMatchesReference: the runner's parallel transpose of
// the MNIST network's dense weights and of odd shapes.
func TestTransposeBodyMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 2))
	for _, s := range [][2]int{{500, 128}, {128, 10}, {100, 20}, {257, 129}, {784, 300}, {1100, 500}, {33, 1000}, {1, 1}, {16, 16}} {
		rows, cols := s[0], s[1]
		w := make([]float32, rows*cols)
		randomBits(rng, w)
		want := make([]float32, len(w))
		refTranspose(want, w, rows, cols, 0, rows)
		got := make([]float32, len(w))
		tb := transposeBody{t: got, w: w, rows: rows, cols: cols}
		runTranspose(&tb)
		if i := sameBits(got, want); i >= 0 {
			t.Fatalf("%dx%d: t[%d] = %#x, want %#x", rows, cols, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
}

// refIm2col is the definition of the patches, one value at a time.
func refIm2col[T float32 | uint8](g Geometry, cols, x []T, batch int) {
	for b := 0; b < batch; b++ {
		for oy := 0; oy < g.OutH; oy++ {
			for ox := 0; ox < g.OutW; ox++ {
				p := ((b*g.OutH+oy)*g.OutW + ox) * g.PatchRows
				for ky := 0; ky < g.Kernel; ky++ {
					for kx := 0; kx < g.Kernel; kx++ {
						for c := 0; c < g.C; c++ {
							iy, ix := oy*g.Stride-g.Pad+ky, ox*g.Stride-g.Pad+kx
							var v T
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								v = x[b*g.InputsPerSample+(iy*g.W+ix)*g.C+c]
							}
							cols[p+(ky*g.Kernel+kx)*g.C+c] = v
						}
					}
				}
			}
		}
	}
}

// im2colGeometries covers rows of 1..16 values and longer, padding larger
// than the stride, kernels as large as the padded image, one output
// position, and the MNIST network's convolution.
func im2colGeometries(t *testing.T) []Geometry {
	var gs []Geometry
	for _, c := range [][6]int{
		{28, 28, 1, 10, 5, 1}, {9, 7, 2, 3, 2, 1}, {6, 6, 1, 6, 1, 0}, {12, 11, 3, 5, 3, 2},
		{8, 8, 4, 4, 2, 0}, {20, 20, 1, 16, 4, 3}, {5, 5, 2, 1, 1, 0}, {1, 1, 1, 1, 1, 0},
		{3, 3, 1, 5, 1, 1}, {7, 5, 1, 7, 1, 1}, {4, 4, 16, 1, 1, 0}, {4, 4, 8, 2, 1, 1},
		{11, 13, 1, 8, 3, 2}, {10, 10, 1, 9, 1, 4}, {17, 17, 1, 17, 1, 0}, {30, 30, 1, 15, 5, 0},
		{6, 6, 5, 3, 1, 1}, {28, 28, 1, 10, 5, 0}, {28, 28, 1, 11, 5, 1}, {2, 40, 1, 2, 1, 0},
	} {
		g, err := NewGeometry(c[0], c[1], c[2], c[3], c[4], c[5])
		if err != nil {
			t.Fatal(c, err)
		}
		gs = append(gs, g)
	}
	return gs
}

// im2colCase returns random images of a batch, as bytes and as float32
// bit patterns, and the reference patches of each.
func im2colCase(rng *rand.Rand, g Geometry, batch int) (x8 []uint8, x []float32, want8 []uint8, want []float32) {
	x8 = make([]uint8, batch*g.InputsPerSample)
	for i := range x8 {
		x8[i] = uint8(rng.Uint32())
	}
	x = make([]float32, len(x8))
	randomBits(rng, x)
	n := batch * g.Patches * g.PatchRows
	want8, want = make([]uint8, n), make([]float32, n)
	refIm2col(g, want8, x8, batch)
	refIm2col(g, want, x, batch)
	return x8, x, want8, want
}

func TestIm2colMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	for _, g := range im2colGeometries(t) {
		for _, batch := range []int{1, 2, 5} {
			x8, x, want8, want := im2colCase(rng, g, batch)
			n := len(want)
			got8, got := make([]uint8, n), make([]float32, n)
			for i := range got8 {
				got8[i] = 0xa5 // must all be overwritten
				got[i] = math.Float32frombits(0x7fc0dead)
			}
			im2col(g, got8, x8, batch)
			im2col(g, got, x, batch)
			for i := range want8 {
				if got8[i] != want8[i] {
					t.Fatalf("%+v batch %d: uint8 element %d = %d, want %d", g, batch, i, got8[i], want8[i])
				}
			}
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("%+v batch %d: float element %d = %#x, want %#x", g, batch, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
}

// TestIm2colBodyMatchesReference: the runner's cut in parts, reusing its
// padded images from one call to the next, and never writing past the
// patches (the destination is a window of a larger buffer).
func TestIm2colBodyMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 4))
	for _, g := range im2colGeometries(t) {
		var b8 im2colBody[uint8]
		var bf im2colBody[float32]
		for _, batch := range []int{1, 3, 13, 100} {
			x8, x, want8, want := im2colCase(rng, g, batch)
			n := len(want)
			const guard = 64
			buf8, buf := make([]uint8, n+guard), make([]float32, n+guard)
			for i := range buf8 {
				buf8[i] = 0xa5
				buf[i] = math.Float32frombits(0x7fc0dead)
			}
			b8.g, b8.cols, b8.x, b8.batch = g, buf8[:n], x8, batch
			bf.g, bf.cols, bf.x, bf.batch = g, buf[:n], x, batch
			b8.cut()
			bf.cut()
			for i := range want8 {
				if buf8[i] != want8[i] {
					t.Fatalf("%+v batch %d: uint8 element %d = %d, want %d", g, batch, i, buf8[i], want8[i])
				}
			}
			if i := sameBits(buf[:n], want); i >= 0 {
				t.Fatalf("%+v batch %d: float element %d = %#x, want %#x", g, batch, i, math.Float32bits(buf[i]), math.Float32bits(want[i]))
			}
			for i := n; i < n+guard; i++ {
				if buf8[i] != 0xa5 || math.Float32bits(buf[i]) != 0x7fc0dead {
					t.Fatalf("%+v batch %d: element %d past the patches written", g, batch, i)
				}
			}
		}
	}
}

// BenchmarkTranspose: dense1's weights of the MNIST network (500 x 128),
// transposed at every training step, on one goroutine and as the runner
// does it.
func BenchmarkTranspose(b *testing.B) {
	const rows, cols = 500, 128
	w := make([]float32, rows*cols)
	randomBits(rand.New(rand.NewPCG(1, 1)), w)
	tr := make([]float32, len(w))
	b.Run("500x128", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			transpose(tr, w, rows, cols, 0, rows)
		}
	})
	b.Run("500x128/runner", func(b *testing.B) {
		tb := transposeBody{t: tr, w: w, rows: rows, cols: cols}
		b.ReportAllocs()
		for b.Loop() {
			runTranspose(&tb)
		}
	})
}

// BenchmarkIm2col: the MNIST network's convolution (28x28x1, kernel 10,
// stride 5, pad 1) on a batch of 100 5-bit images, on one goroutine and
// as the runner does it.
func BenchmarkIm2col(b *testing.B) {
	g, err := NewGeometry(28, 28, 1, 10, 5, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 100
	x := make([]uint8, batch*g.InputsPerSample)
	for i := range x {
		x[i] = uint8(i * 7 % 32)
	}
	cols := make([]uint8, batch*g.Patches*g.PatchRows)
	b.Run("mnist", func(b *testing.B) {
		pad := make([]uint8, padLen(g))
		b.ReportAllocs()
		for b.Loop() {
			im2colBytes(g, cols, x, batch, pad)
		}
	})
	b.Run("mnist/runner", func(b *testing.B) {
		cb := im2colBody[uint8]{g: g, cols: cols, x: x, batch: batch}
		b.ReportAllocs()
		for b.Loop() {
			cb.cut()
		}
	})
}

// runTranspose transposes as the runner does.
func runTranspose(tb *transposeBody) { tb.run() }

// padLen is the length of the padded image im2colBytes is given.
func padLen(g Geometry) int { return g.padSize() }
