package analogmac

import "math/rand/v2"

// NoiseKeys is a reproducible sequence of noise keys, one per Run: what a
// caller hands to Program.Run so that a simulated device's trial noise is
// fixed by a seed. Keys are drawn from a PCG stream seeded with (seed,
// noiseStream); the k-th key of a seed is the same in every process.
//
// A NoiseKeys is not safe for concurrent use: it is consumed in call order,
// which is what makes a run of calls reproducible.
type NoiseKeys struct{ pcg rand.PCG }

// NewNoiseKeys returns the key sequence of seed.
func NewNoiseKeys(seed uint64) *NoiseKeys {
	k := &NoiseKeys{}
	k.Reset(seed)
	return k
}

// Reset restarts the sequence at seed, reusing k.
func (k *NoiseKeys) Reset(seed uint64) { k.pcg.Seed(seed, noiseStream) }

// Next returns the next key. A nil *NoiseKeys returns 0 every time: the
// same noise for every call, which is only what a caller wants when the
// device has none.
func (k *NoiseKeys) Next() uint64 {
	if k == nil {
		return 0
	}
	return k.pcg.Uint64()
}
