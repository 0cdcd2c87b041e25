package remote

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// changesRef is changes written plainly: every index, one at a time.
func changesRef(old, w []int8) (*chipv1.Changes, bool) {
	ch := &chipv1.Changes{}
	size, last := 0, -1
	for i := range w {
		if w[i] != old[i] {
			size += protowire.SizeVarint(uint64(i-last-1)) + 1
			if size >= len(w) {
				return nil, false
			}
			ch.Gaps = append(ch.Gaps, uint32(i-last-1))
			ch.Values = append(ch.Values, byte(w[i]))
			last = i
		}
	}
	return ch, true
}

// TestChanges: the word-skipping loop codes exactly the changes the plain
// loop codes, for changes at every position of a word, at the ends, dense
// and sparse, and applying them to old gives w.
func TestChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 8, 9, 16, 100, 1000, 64000} {
		for _, k := range []int{0, 1, 2, 5, n / 10, n / 2, n} {
			old := make([]int8, n)
			for i := range old {
				old[i] = int8(r.IntN(127) - 63)
			}
			w := slices.Clone(old)
			for range k {
				i := r.IntN(n)
				w[i] = int8(r.IntN(127) - 63)
			}
			if k > 0 {
				w[n-1] = old[n-1] + 1 - 2*int8(r.IntN(2)) // the last index changed
			}
			got, gok := changes(old, w)
			want, wok := changesRef(old, w)
			if gok != wok || gok && (!slices.Equal(got.Gaps, want.Gaps) || !slices.Equal(got.Values, want.Values)) {
				t.Fatalf("n %d, %d changes: got %v %v, want %v %v", n, k, got, gok, want, wok)
			}
			if !gok {
				continue
			}
			applied := slices.Clone(old)
			idx := -1
			for i, g := range got.Gaps {
				idx += int(g) + 1
				applied[idx] = int8(got.Values[i])
			}
			if !slices.Equal(applied, w) {
				t.Fatalf("n %d, %d changes: applying them does not give the new weights", n, k)
			}
		}
	}
}

// TestWeightsInRange: the eight-at-a-time test agrees with analogmac.Check
// for every byte value at every position of a word and in the tail.
func TestWeightsInRange(t *testing.T) {
	for n := 1; n <= 19; n++ {
		for pos := range n {
			for v := -128; v < 128; v++ {
				w := make([]int8, n)
				for i := range w {
					w[i] = int8((i*37)%127 - 63) // in range
				}
				w[pos] = int8(v)
				err := analogmac.Check(analogmac.Matrix{Rows: 1, Cols: n, Sends: 1, Weights: w})
				if got := weightsInRange(w); got != (err == nil) {
					t.Fatalf("%d weights, %d at %d: WeightsInRange %v, Check %v", n, v, pos, got, err)
				}
			}
		}
	}
}
