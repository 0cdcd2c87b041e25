//go:build !amd64 || purego

package analogmac

func (p *program) finishVector(dst []int8, s Shape, nb, b0, b1 int, pt *part, noise []float64) bool {
	return false
}
