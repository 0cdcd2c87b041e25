//go:build amd64 && !purego

package analogmac

import (
	"math"
	"math/rand/v2"
	"testing"
)

// unmix64 inverts mix64: the key whose first draw is h.
func unmix64(h uint64) uint64 {
	inv := func(m uint64) uint64 { // m^-1 mod 2^64, m odd (Newton)
		x := m
		for range 6 {
			x *= 2 - m*x
		}
		return x
	}
	unshift := func(y uint64, s uint) uint64 {
		x := y
		for range 64/s + 1 {
			x = y ^ x>>s
		}
		return x
	}
	z := unshift(h, 31)
	z = unshift(z*inv(0x94d049bb133111eb), 27)
	z = unshift(z*inv(0xbf58476d1ce4e5b9), 30)
	return z - golden64
}

// TestNormalGroups512 compares the vector kernel with normalGroups bit for
// bit: streams whose first words are the edge cases of boxMuller, random
// keys, groups and lengths (last groups cut at every length, with guards
// after the end).
func TestNormalGroups512(t *testing.T) {
	if !vectorNoise() {
		t.Skip("no AVX-512")
	}
	check := func(key, g uint64, n int) {
		t.Helper()
		got := make([]float64, n+40)
		for i := range got {
			got[i] = -99
		}
		normalGroups512(key, g, &got[0], n)
		want := make([]float64, n)
		normalGroups(key, g, want)
		for i, w := range want {
			if math.Float64bits(got[i]) != math.Float64bits(w) {
				t.Fatalf("key %#x, group %d, n %d: number %d is %v, want %v", key, g, n, i, got[i], w)
			}
		}
		for i, v := range got[n:] {
			if v != -99 {
				t.Fatalf("key %#x, group %d, n %d: wrote %v past the end (+%d)", key, g, n, v, i)
			}
		}
	}
	// Draw 0 of a group holds its first two radius words, draw 8 its
	// first two angle words.
	for i, r := range edgeRadii {
		h := uint64(edgeRadii[(i+1)%len(edgeRadii)])<<32 | uint64(r)
		key := unmix64(h)
		if mix64(key) != h {
			t.Fatalf("unmix64(%#x) = %#x: mix64 gives %#x", h, key, mix64(key))
		}
		check(key, 0, 32)
	}
	for i, a := range edgeAngles {
		h := uint64(edgeAngles[(i+1)%len(edgeAngles)])<<32 | uint64(a)
		g := uint64(golden64)
		check(unmix64(h)-8*g, 0, 32)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		check(rng.Uint64(), rng.Uint64N(1<<40), 1+rng.IntN(200))
	}
}
