package datasets

import (
	"bytes"
	"errors"
	"testing"
)

func TestSetSample(t *testing.T) {
	s := &Set{N: 2, Height: 2, Width: 1, Channels: 2, Classes: 2, Samples: []uint8{1, 2, 3, 4, 5, 6, 7, 8}, Labels: []uint8{0, 1}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	im := s.Sample(1)
	if !bytes.Equal(im, []uint8{5, 6, 7, 8}) {
		t.Fatalf("Sample(1) = %v", im)
	}
	im0 := s.Sample(0)
	_ = append(im0, 99) // must reallocate, not overwrite sample 1
	if s.Samples[4] != 5 {
		t.Errorf("append to Sample(0) overwrote sample 1: %v", s.Samples)
	}
	h := s.Head(1)
	if h.N != 1 || len(h.Samples) != 4 || len(h.Labels) != 1 || s.N != 2 {
		t.Errorf("Head(1) = %+v (original N %d)", h, s.N)
	}
	if s.Head(0) != s || s.Head(5) != s {
		t.Error("Head of 0 or more than N is not the whole set")
	}
}

func TestValidateRefuses(t *testing.T) {
	good := func() *Set {
		return &Set{N: 2, Height: 1, Width: 2, Channels: 1, Classes: 3, Samples: []uint8{1, 2, 3, 4}, Labels: []uint8{0, 2}}
	}
	for name, edit := range map[string]func(*Set){
		"no samples":    func(s *Set) { s.N = 0 },
		"zero width":    func(s *Set) { s.Width = 0 },
		"one class":     func(s *Set) { s.Classes = 1 },
		"short samples": func(s *Set) { s.Samples = s.Samples[:3] },
		"short labels":  func(s *Set) { s.Labels = s.Labels[:1] },
		"label 3":       func(s *Set) { s.Labels[1] = 3 },
	} {
		s := good()
		edit(s)
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	d := &Data{Name: "x", Train: good(), Test: good()}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	d.Test.Classes = 4
	if err := d.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("splits with 3 and 4 classes: got %v", err)
	}
}
