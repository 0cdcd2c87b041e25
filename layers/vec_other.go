//go:build !amd64 || purego

package layers

func toInputsVector(xq []uint8, x []float32) int { return 0 }
func quantizeVector(dst []int8, w []float32) int { return 0 }

func clampVector(y []float32) bool                              { return false }
func clampAddVector(tot, acc []float32) bool                    { return false }
func reluFloatVector(dst, y []float32, div float32) bool        { return false }
func reluGradFloatVector(gin, g, y []float32, div float32) bool { return false }
