//go:build !amd64 || purego

package analogmac

func (p *program) finishVector(dst []int8, s Shape, nb, b0, b1 int, sums []float32, plane int, tot []int32, noise []float64) bool {
	return false
}
