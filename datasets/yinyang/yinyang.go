// Package yinyang generates the Yin-Yang dataset (Kriener, Göltz and
// Petrovici 2021), the small standard task of the BrainScaleS-2 tutorials:
// points in a square whose class is the region of a yin-yang figure they
// fall into: yin, yang, or one of the two dots. Each sample is four
// values, (x, y, 1-x, 1-y): the mirrored pair gives every point the same
// total input, as the dataset's authors designed it for neuromorphic
// networks. Nothing is downloaded: the data is generated from a seed.
//
// The figure (radii R = 0.5 and r = 0.1, centred at (R, R)) follows the
// dataset's definition: a point is drawn uniformly in the square [0, 2R)^2
// and kept only inside the big circle; the classes are balanced by drawing
// each sample's class first and redrawing points until one of that class
// comes up.
package yinyang

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/analogloop/analogloop/datasets"
)

// Name is the dataset's name in results and flags.
const Name = "yinyang"

// Classes of the dataset, in label order, as the dataset numbers them:
// label 1 for the points its yin criterion selects, 0 for the rest of the
// figure, 2 for the dots.
const (
	Yang    = 0
	Yin     = 1
	Dot     = 2
	Classes = 3
)

// Geometry of the figure, in the unit square (the dataset's defaults).
const (
	RBig   = 0.5
	RSmall = 0.1
)

// Default sizes and seeds of the two splits: the sizes of the dataset's
// published splits (5000 training and 1000 test samples).
const (
	DefaultTrain     = 5000
	DefaultTest      = 1000
	DefaultTrainSeed = 42
	DefaultTestSeed  = 41
)

// MaxSamples bounds a split.
const MaxSamples = 1 << 22

// Options say what to generate; zero values take the defaults.
type Options struct {
	Train, Test         int
	TrainSeed, TestSeed uint64
}

// Class returns the class of the point (x, y) of the figure; the point must
// lie inside the big circle.
func Class(x, y float64) int {
	dRight := math.Hypot(x-1.5*RBig, y-RBig)
	dLeft := math.Hypot(x-0.5*RBig, y-RBig)
	if dRight < RSmall || dLeft < RSmall {
		return Dot
	}
	yin := dRight <= RSmall || (dLeft > RSmall && dLeft <= 0.5*RBig) || (y > RBig && dRight > 0.5*RBig)
	if yin {
		return Yin
	}
	return Yang
}

// Points draws n labelled points from seed: coordinates in [0, 1) and
// their classes, balanced in expectation.
func Points(n int, seed uint64) (xy [][2]float64, labels []uint8) {
	rng := rand.New(rand.NewPCG(seed, 0x79696e79616e67)) // "yinyang"
	xy = make([][2]float64, n)
	labels = make([]uint8, n)
	for i := range n {
		goal := rng.IntN(Classes)
		for {
			x, y := 2*RBig*rng.Float64(), 2*RBig*rng.Float64()
			if math.Hypot(x-RBig, y-RBig) > RBig {
				continue
			}
			if c := Class(x, y); c == goal {
				xy[i] = [2]float64{x, y}
				labels[i] = uint8(c)
				break
			}
		}
	}
	return xy, labels
}

// Quantize maps a coordinate in [0, 1] to a sample value 0..255, so that a
// network's 5-bit input v >> 3 is floor(32 * c) clamped to 31.
func Quantize(c float64) uint8 {
	return uint8(min(255, max(0, math.Floor(256*c))))
}

// Set generates n samples from seed: 1 x 4 x 1 values (x, y, 1-x, 1-y).
func Set(n int, seed uint64) (*datasets.Set, error) {
	if n < 1 || n > MaxSamples {
		return nil, fmt.Errorf("yinyang: %d samples: want 1..%d", n, MaxSamples)
	}
	xy, labels := Points(n, seed)
	s := &datasets.Set{N: n, Height: 1, Width: 4, Channels: 1, Classes: Classes, Samples: make([]uint8, 4*n), Labels: labels}
	for i, p := range xy {
		v := s.Sample(i)
		v[0], v[1], v[2], v[3] = Quantize(p[0]), Quantize(p[1]), Quantize(1-p[0]), Quantize(1-p[1])
	}
	return s, nil
}

// Load generates both splits.
func Load(o Options) (*datasets.Data, error) {
	if o.Train == 0 {
		o.Train = DefaultTrain
	}
	if o.Test == 0 {
		o.Test = DefaultTest
	}
	if o.TrainSeed == 0 {
		o.TrainSeed = DefaultTrainSeed
	}
	if o.TestSeed == 0 {
		o.TestSeed = DefaultTestSeed
	}
	if o.TrainSeed == o.TestSeed {
		return nil, fmt.Errorf("yinyang: train and test seeds are both %d: the splits would be the same points", o.TrainSeed)
	}
	train, err := Set(o.Train, o.TrainSeed)
	if err != nil {
		return nil, err
	}
	test, err := Set(o.Test, o.TestSeed)
	if err != nil {
		return nil, err
	}
	return &datasets.Data{Name: Name, Source: fmt.Sprintf("generated: %d training samples from seed %d, %d test samples from seed %d", o.Train, o.TrainSeed, o.Test, o.TestSeed),
		Train: train, Test: test}, nil
}
