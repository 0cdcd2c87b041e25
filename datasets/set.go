package datasets

import (
	"errors"
	"fmt"
)

// MaxClasses is the number of classes a Set can hold: labels are bytes.
const MaxClasses = 256

// Set is one split of a classification dataset: N samples of Height x Width
// x Channels 8-bit values each, row-major and channels last (value (y, x, c)
// of sample i at Samples[i*Values() + (y*Width+x)*Channels + c]), and N
// labels in 0..Classes-1.
type Set struct {
	N                       int
	Height, Width, Channels int
	Classes                 int
	Samples                 []uint8
	Labels                  []uint8
}

// Values is the number of values of one sample.
func (s *Set) Values() int { return s.Height * s.Width * s.Channels }

// Sample returns the values of sample i. Its capacity ends with the sample,
// so an append cannot spill into the next one.
func (s *Set) Sample(i int) []uint8 {
	sz := s.Values()
	return s.Samples[i*sz : (i+1)*sz : (i+1)*sz]
}

// Head returns a Set of the first n samples (all of them when n <= 0 or
// n >= N), sharing s's memory.
func (s *Set) Head(n int) *Set {
	if n <= 0 || n >= s.N {
		return s
	}
	h := *s
	h.N = n
	h.Samples = s.Samples[:n*s.Values()]
	h.Labels = s.Labels[:n]
	return &h
}

// ErrInvalid is what Validate's errors are.
var ErrInvalid = errors.New("invalid dataset")

// Validate checks that s is consistent: sizes positive, slices of the
// right length, every label below Classes.
func (s *Set) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("datasets: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case s.N < 1:
		return bad("%d samples: want at least 1", s.N)
	case s.Height < 1 || s.Width < 1 || s.Channels < 1:
		return bad("samples of %dx%dx%d: want positive sizes", s.Height, s.Width, s.Channels)
	case s.Classes < 2 || s.Classes > MaxClasses:
		return bad("%d classes: want 2..%d", s.Classes, MaxClasses)
	case len(s.Samples) != s.N*s.Values():
		return bad("%d sample values for %d samples of %d", len(s.Samples), s.N, s.Values())
	case len(s.Labels) != s.N:
		return bad("%d labels for %d samples", len(s.Labels), s.N)
	}
	for i, l := range s.Labels {
		if int(l) >= s.Classes {
			return bad("label of sample %d is %d: want 0..%d", i, l, s.Classes-1)
		}
	}
	return nil
}

// Data is a dataset: its name, where it came from, and its two splits.
type Data struct {
	Name   string // "mnist", "fashion-mnist", "yinyang", ...
	Source string // the directory read, or how it was generated
	Train  *Set
	Test   *Set
}

// Validate checks both splits and that they agree on geometry and classes.
func (d *Data) Validate() error {
	if d.Train == nil || d.Test == nil {
		return fmt.Errorf("datasets: %w: %s: a split is missing", ErrInvalid, d.Name)
	}
	if err := d.Train.Validate(); err != nil {
		return fmt.Errorf("%s train split: %w", d.Name, err)
	}
	if err := d.Test.Validate(); err != nil {
		return fmt.Errorf("%s test split: %w", d.Name, err)
	}
	a, b := d.Train, d.Test
	if a.Height != b.Height || a.Width != b.Width || a.Channels != b.Channels || a.Classes != b.Classes {
		return fmt.Errorf("datasets: %w: %s: train is %dx%dx%d with %d classes, test %dx%dx%d with %d", ErrInvalid, d.Name,
			a.Height, a.Width, a.Channels, a.Classes, b.Height, b.Width, b.Channels, b.Classes)
	}
	return nil
}
