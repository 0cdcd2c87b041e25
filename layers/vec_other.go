//go:build !amd64 || purego

package layers

func toInputsVector(xq []uint8, x []float32) int     { return 0 }
func reluVector(u []uint8, y []int8, shift int) bool { return false }
func quantizeVector(dst []int8, w []float32) int     { return 0 }
