package datasetstest

import (
	"math/rand/v2"

	"github.com/analogloop/analogloop/datasets"
)

// Digits returns n MNIST-like 28x28 single-channel images in 10 classes:
// a horizontal and a vertical bar whose position is the label, plus random
// speckle, drawn from seed.
func Digits(n int, seed uint64) *datasets.Set {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := &datasets.Set{N: n, Height: 28, Width: 28, Channels: 1, Classes: 10, Samples: make([]uint8, n*784), Labels: make([]uint8, n)}
	for i := range n {
		l := rng.IntN(10)
		s.Labels[i] = uint8(l)
		img := s.Sample(i)
		for j := range img {
			if rng.IntN(6) == 0 {
				img[j] = uint8(rng.IntN(256))
			}
		}
		for x := 3; x < 25; x++ {
			img[(4+2*l)*28+x] = 255
			img[x*28+4+2*l] = 200
		}
	}
	return s
}

// Data returns a synthetic dataset of Digits: nTrain and nTest samples.
func Data(nTrain, nTest int) *datasets.Data {
	return &datasets.Data{Name: "synthetic", Source: "datasetstest.Digits", Train: Digits(nTrain, 1), Test: Digits(nTest, 2)}
}
