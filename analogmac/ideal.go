package analogmac

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// DefaultGain is the output in LSB per unit of input x weight and per send
// used by hxtorch's MNIST mock (MockParameter(gain=0.0018)).
const DefaultGain = 0.0018

// Ideal is the exact integer data path of the chip without noise or
// deviations: per row block floor(gain * sends * x.w), clamped to int8, the
// blocks added digitally and clamped again.
type Ideal struct {
	GainPerSend float64 `json:"gain_per_send"`
}

// NewIdeal returns an Ideal device with the default gain.
func NewIdeal() *Ideal { return &Ideal{GainPerSend: DefaultGain} }

// Gain implements Device.
func (d *Ideal) Gain() float64 { return d.GainPerSend }

// MatMul implements Device.
func (d *Ideal) MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error {
	if err := Check(dst, x, w, s, sends, p); err != nil {
		return err
	}
	k := d.GainPerSend * float64(sends)
	var acc []float32
	total := make([]int32, len(dst))
	xf := toFloat32U(x)
	wf := toFloat32S(w)
	for r0 := 0; r0 < s.Rows; r0 += BlockRows {
		r1 := min(r0+BlockRows, s.Rows)
		acc = blockProduct(acc, xf, wf, s, r0, r1)
		for i, a := range acc {
			total[i] += clampOut(math.Floor(k * float64(a)))
		}
	}
	for i, t := range total {
		dst[i] = int8(clampOut(float64(t)))
	}
	return nil
}

// blockProduct returns x[:, r0:r1] @ w[r0:r1, :] in acc (Batch x Cols),
// reusing acc's storage. Integer products of 5-bit inputs and 6-bit weights
// summed over at most BlockRows rows stay below 2^24, so float32 is exact.
func blockProduct(acc, x, w []float32, s Shape, r0, r1 int) []float32 {
	n := s.Batch * s.Cols
	if cap(acc) < n {
		acc = make([]float32, n)
	}
	acc = acc[:n]
	a := blas32.General{Rows: s.Batch, Cols: r1 - r0, Stride: s.Rows, Data: x[r0:]}
	b := blas32.General{Rows: r1 - r0, Cols: s.Cols, Stride: s.Cols, Data: w[r0*s.Cols:]}
	c := blas32.General{Rows: s.Batch, Cols: s.Cols, Stride: s.Cols, Data: acc}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c)
	return acc
}

func clampOut(v float64) int32 {
	if v < OutputMin {
		return OutputMin
	}
	if v > OutputMax {
		return OutputMax
	}
	return int32(v)
}

func toFloat32U(v []uint8) []float32 {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}

func toFloat32S(v []int8) []float32 {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}
