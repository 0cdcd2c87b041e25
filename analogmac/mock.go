package analogmac

import (
	"fmt"
	"math"
)

// DefaultMockNoise is the trial-to-trial noise, in output LSB per block
// output, of hxtorch's MNIST mock (MockParameter(noise_std=1.6, gain=0.0018),
// background.md §1); it goes with DefaultGain. hxtorch's generic default is
// 2.0.
const DefaultMockNoise = 1.6

// Mock is hxtorch's software model of the chip: Ideal plus fresh Gaussian
// noise of NoiseStd LSB added to every block output before the floor. It has
// no fixed pattern and no saturation; it is here for comparison with Chip and
// for pre-training as hxtorch does.
type Mock struct {
	GainPerSend float64 `json:"gain_per_send"`
	NoiseStd    float64 `json:"noise_std"`

	eng engine
}

// NewMock returns a Mock with hxtorch's MNIST parameters whose noise stream
// starts from noiseSeed.
func NewMock(noiseSeed uint64) *Mock {
	m := &Mock{GainPerSend: DefaultGain, NoiseStd: DefaultMockNoise}
	m.SeedNoise(noiseSeed)
	return m
}

// Gain implements Device.
func (d *Mock) Gain() float64 { return d.GainPerSend }

// SeedNoise implements NoiseSeeder. A Mock that was never seeded uses seed 0.
func (d *Mock) SeedNoise(seed uint64) {
	d.eng.mu.Lock()
	defer d.eng.mu.Unlock()
	d.eng.seedNoise(seed)
}

// MatMul implements Device.
func (d *Mock) MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error {
	if err := Check(dst, x, w, s, sends, p); err != nil {
		return err
	}
	if err := checkGain(d.GainPerSend); err != nil {
		return err
	}
	if !(d.NoiseStd >= 0) || math.IsInf(d.NoiseStd, 0) {
		return fmt.Errorf("analogmac: mock noise std %g: want a finite value >= 0", d.NoiseStd)
	}
	e := &d.eng
	e.mu.Lock()
	defer e.mu.Unlock()
	seed := e.callSeed()
	e.load(x, s)
	e.loadWeights(w)
	nb := e.products(s)
	e.finish(postMock, dst, s, nb, d.GainPerSend*float64(sends), d.NoiseStd, 0, seed)
	return nil
}
