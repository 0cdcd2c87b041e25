package analogmac

import (
	"context"
	"testing"
)

// keyed is a device as the tests use it: each MatMul programs the weights,
// runs the inputs once with the next key of a noise key sequence, and
// frees the program, so that successive calls draw fresh noise and a
// restarted sequence reproduces it.
type keyed struct {
	Device
	keys *NoiseKeys
}

func withKeys(d Device, seed uint64) *keyed { return &keyed{Device: d, keys: NewNoiseKeys(seed)} }

func (k *keyed) MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error {
	return MatMul(context.Background(), k.Device, dst, x, w, s, sends, p, k.keys.Next())
}

// testChip is a Chip with its own key sequence; its fields stay visible.
type testChip struct {
	*Chip
	keys *NoiseKeys
}

func (c *testChip) MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error {
	return MatMul(context.Background(), c.Chip, dst, x, w, s, sends, p, c.keys.Next())
}

// testMock is a Mock with its own key sequence.
type testMock struct {
	*Mock
	keys *NoiseKeys
}

func newMock(noiseSeed uint64) *testMock {
	return &testMock{Mock: NewMock(), keys: NewNoiseKeys(noiseSeed)}
}

func (m *testMock) MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error {
	return MatMul(context.Background(), m.Mock, dst, x, w, s, sends, p, m.keys.Next())
}

func chipOf(t testing.TB, chipSeed, noiseSeed uint64, cfg ChipConfig) *testChip {
	t.Helper()
	c, err := NewChip(chipSeed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testChip{Chip: c, keys: NewNoiseKeys(noiseSeed)}
}

// matMuler is what the tests call.
type matMuler interface {
	MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error
}
