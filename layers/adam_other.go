//go:build !amd64 || purego

package layers

func (s *adamStep) adamVector(w, g, m, v []float32) bool { return false }

func vectorAdam() bool { return false }
