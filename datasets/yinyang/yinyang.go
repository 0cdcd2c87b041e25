package yinyang

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/analogloop/analogloop/datasets"
)

// Name is the dataset's name in results and flags.
const Name = "yinyang"

// Classes of the dataset, in label order. The numbers are the reference's:
// label 1 for the points its three "yin" criteria select, 0 for the rest of
// the figure, 2 for the dots. The names follow the reference's published
// ones (its class_names list, and the README's colours per label), which
// call label 0 "yin" although its code's variable for label 1 is is_yin.
const (
	Yin     = 0
	Yang    = 1
	Dot     = 2
	Classes = 3
)

// ClassNames are the classes' names, by label.
var ClassNames = [Classes]string{"yin", "yang", "dot"}

// Geometry of the figure in the unit square: the reference's defaults.
const (
	RBig   = 0.5
	RSmall = 0.1
)

// Default sizes and seeds of the splits: the reference's (5000 training
// samples from seed 42, 1000 validation from 41, 1000 test from 40). Load
// makes the training and test splits; the validation split is
// Set(DefaultValidation, DefaultValidationSeed), for choosing
// hyper-parameters without looking at the test split.
const (
	DefaultTrain          = 5000
	DefaultValidation     = 1000
	DefaultTest           = 1000
	DefaultTrainSeed      = 42
	DefaultValidationSeed = 41
	DefaultTestSeed       = 40
)

// MaxSamples bounds a split.
const MaxSamples = 1 << 22

// Options say what Load generates; zero values take the defaults.
type Options struct {
	Train, Test         int
	TrainSeed, TestSeed uint64
}

// Inside reports whether (x, y) lies in the figure (the big circle, its
// edge included, as the reference keeps it).
func Inside(x, y float64) bool {
	return math.Hypot(x-RBig, y-RBig) <= RBig
}

// Class returns the label of the point (x, y) of the figure; the point must
// be Inside. The criteria are the reference's: a point within RSmall of a
// dot's centre is a dot; otherwise it is label 1 when it is within RBig/2
// of the left dot's centre, or in the upper half and farther than RBig/2
// from the right dot's centre, and label 0 otherwise.
func Class(x, y float64) int {
	dRight := math.Hypot(x-1.5*RBig, y-RBig)
	dLeft := math.Hypot(x-0.5*RBig, y-RBig)
	if dRight < RSmall || dLeft < RSmall {
		return Dot
	}
	// The reference's first criterion (dRight <= RSmall) can only hold
	// here on the dot's edge, where it makes the point label 1.
	if dRight <= RSmall || dLeft <= 0.5*RBig || (y > RBig && dRight > 0.5*RBig) {
		return Yang
	}
	return Yin
}

// Points draws n labelled points from seed: coordinates in [0, 1) and their
// labels, each class a third of the points in expectation.
func Points(n int, seed uint64) (xy [][2]float64, labels []uint8) {
	rng := rand.New(rand.NewPCG(seed, 0x79696e79616e67)) // "yinyang"
	xy = make([][2]float64, n)
	labels = make([]uint8, n)
	for i := range n {
		goal := rng.IntN(Classes)
		for {
			x, y := 2*RBig*rng.Float64(), 2*RBig*rng.Float64()
			if !Inside(x, y) {
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
// network's 5-bit input v >> 3 is floor(32 c) clamped to 31. Values outside
// [0, 1] are clamped; NaN gives 0.
func Quantize(c float64) uint8 {
	if !(c > 0) {
		return 0
	}
	return uint8(min(255, math.Floor(256*c)))
}

// Set generates n samples from seed: 1 x 4 x 1 values (x, y, 1-x, 1-y).
// The mirrored values are 255 - Quantize(x) and 255 - Quantize(y), which
// equal Quantize(1-x) and Quantize(1-y) except where 256 x is a whole
// number, so that each pair of 5-bit inputs sums to 31 exactly.
func Set(n int, seed uint64) (*datasets.Set, error) {
	if n < 1 || n > MaxSamples {
		return nil, fmt.Errorf("yinyang: %d samples: want 1..%d", n, MaxSamples)
	}
	xy, labels := Points(n, seed)
	s := &datasets.Set{N: n, Height: 1, Width: 4, Channels: 1, Classes: Classes, Samples: make([]uint8, 4*n), Labels: labels}
	for i, p := range xy {
		v := s.Sample(i)
		v[0], v[1] = Quantize(p[0]), Quantize(p[1])
		v[2], v[3] = 255-v[0], 255-v[1]
	}
	return s, nil
}

// Load generates the training and test splits.
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
	for _, f := range []struct {
		name string
		n    int
	}{{"Train", o.Train}, {"Test", o.Test}} {
		if f.n < 1 || f.n > MaxSamples {
			return nil, fmt.Errorf("yinyang: Options.%s = %d samples: want 1..%d (0: the default)", f.name, f.n, MaxSamples)
		}
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
