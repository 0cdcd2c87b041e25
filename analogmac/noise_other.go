//go:build !amd64 || purego

package analogmac

func (n *normals) fillGroups([]float64) int { return 0 }

func vectorNoise() bool { return false }
