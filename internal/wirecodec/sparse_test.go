package wirecodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// sparseInputs are n inputs of 0..31 of which about a quarter are not 0,
// in runs, as MNIST's patches are.
func sparseInputs(r *rand.Rand, n int) []byte {
	x := make([]byte, n)
	for i := 0; i < n; {
		run := 1 + r.IntN(12)
		if r.IntN(4) == 0 {
			for k := i; k < min(n, i+run); k++ {
				x[k] = byte(r.IntN(32))
			}
		}
		i += run
	}
	return x
}

// paths runs f with the vector loops (where there are) and the plain ones.
func paths(t *testing.T, f func(t *testing.T)) {
	fast := sparseFast
	defer func() { sparseFast = fast }()
	for _, v := range []bool{fast, false} {
		sparseFast = v
		t.Run(fmt.Sprintf("fast=%v", v), f)
		if !fast {
			break
		}
	}
}

// TestSparseRoundTrip: every length from 0 to 200 and a long input, of
// zeros, of non-zeros and mixed, and bytes of every value (the form is
// lossless for any byte: the server checks the values after decoding),
// decode to what was encoded, in at most SparseBound bytes, appended to
// what dst held; the vector and plain loops write the same bytes.
func TestSparseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var cases [][]byte
	for n := range 201 {
		full := make([]byte, n)
		for i := range full {
			full[i] = byte(1 + r.IntN(255))
		}
		cases = append(cases, make([]byte, n), full, sparseInputs(r, n))
	}
	cases = append(cases, sparseInputs(r, 250000))
	forms := make([][]byte, len(cases))
	paths(t, func(t *testing.T) {
		for c, x := range cases {
			enc := AppendSparse([]byte("head"), x)
			if string(enc[:4]) != "head" {
				t.Fatal("AppendSparse overwrote dst")
			}
			enc = enc[4:]
			if len(enc) > SparseBound(len(x)) {
				t.Errorf("%d inputs: %d bytes, bound %d", len(x), len(enc), SparseBound(len(x)))
			}
			if forms[c] == nil {
				forms[c] = enc
			} else if !bytes.Equal(forms[c], enc) {
				t.Fatalf("%d inputs: the two loops write different forms", len(x))
			}
			got := bytes.Repeat([]byte{0xee}, len(x))
			if err := DecodeSparse(got, enc); err != nil {
				t.Fatalf("%d inputs: %v", len(x), err)
			}
			if !bytes.Equal(got, x) {
				t.Fatalf("%d inputs: decoded %v, want %v", len(x), got, x)
			}
		}
	})
	if x := cases[len(cases)-1]; len(forms[len(cases)-1]) > len(x)/2 {
		t.Errorf("sparse inputs take %d bytes of %d", len(forms[len(cases)-1]), len(x))
	}
}

// TestSparseMalformed: a form that ends early, goes on, or marks inputs
// beyond the last is refused with the byte where it goes wrong, by both
// loops; a listed 0 is taken.
func TestSparseMalformed(t *testing.T) {
	mask := func(m uint64, rest ...byte) []byte { return append(binary.LittleEndian.AppendUint64(nil, m), rest...) }
	long := bytes.Repeat([]byte{7}, 640)
	enc := AppendSparse(nil, long)
	cases := []struct {
		n   int
		src []byte
		at  int
	}{
		{1, nil, 0},
		{64, mask(1), 8},
		{64, mask(0, 9), 8},
		{3, mask(8, 1), 0},
		{3, mask(1 << 63), 0},
		{0, []byte{0}, 0},
		{128, mask(0), 8},
		{65, append(mask(0), 1, 0, 0, 0, 0, 0, 0), 8},
		{640, enc[:len(enc)-1], len(enc) - 1},
		{640, append(enc[:len(enc):len(enc)], 0), len(enc)},
		{640, enc[:100], 100},
	}
	paths(t, func(t *testing.T) {
		for _, c := range cases {
			err := DecodeSparse(make([]byte, c.n), c.src)
			var se *SparseError
			if !errors.As(err, &se) || se.Offset != c.at {
				t.Errorf("%d inputs from %d bytes: %v, want an error at byte %d", c.n, len(c.src), err, c.at)
			}
		}
		got := []byte{9, 9}
		if err := DecodeSparse(got, mask(3, 0, 5)); err != nil || got[0] != 0 || got[1] != 5 {
			t.Errorf("a listed 0: %v, %v", got, err)
		}
	})
}

func BenchmarkSparse(b *testing.B) {
	x := sparseInputs(rand.New(rand.NewPCG(1, 2)), 250000)
	enc := AppendSparse(nil, x)
	dst := make([]byte, len(x))
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, SparseBound(len(x))+64)
		b.SetBytes(int64(len(x)))
		for b.Loop() {
			buf = AppendSparse(buf[:0], x)
		}
		b.ReportMetric(float64(len(enc))/float64(len(x)), "ratio")
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(x)))
		for b.Loop() {
			if err := DecodeSparse(dst, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
