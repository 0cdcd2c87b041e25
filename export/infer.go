package export

import (
	"fmt"
	"math"
)

// Inference is the result of running one sample through the integer data
// path.
type Inference struct {
	Outputs [][]int8 // each analog layer's output, in order, rows x out row-major
	Logits  []int8   // the last layer's output
	Class   int      // argmax of Logits, lowest index on ties
}

// Infer runs one sample (raw 8-bit values, semantics.layout order) through
// the integer inference the manifest describes, using nothing but the
// manifest and the weights: layer name to its (in, out) row-major int8
// matrix, as np.load gives them under the key NAME.weight. It is the Go
// twin of the numpy code in docs/inference.md, independent of packages
// layers and analogmac's devices.
func (m *Manifest) Infer(weights map[string][]int8, values []uint8) (Inference, error) {
	var res Inference
	fail := func(li int, format string, args ...any) (Inference, error) {
		return res, &Error{Op: "infer", File: m.path, Field: fmt.Sprintf("layers[%d]", li), Msg: fmt.Sprintf(format, args...)}
	}
	in, sem := m.Input, m.Semantics
	if len(values) != in.Values() {
		return res, &Error{Op: "infer", File: m.path, Field: "input", Msg: fmt.Sprintf("%d values, a %dx%dx%d sample has %d", len(values), in.Height, in.Width, in.Channels, in.Values())}
	}
	if sem.InputDivisor < 1 || sem.InputMax < 0 || sem.OutputMin > sem.OutputMax {
		return res, &Error{Op: "infer", File: m.path, Field: "semantics", Msg: "incomplete"}
	}
	h := make([]int, len(values))
	for i, v := range values {
		h[i] = int(v) / sem.InputDivisor
	}
	rows, width := 1, len(h)
	for li, l := range m.Layers {
		switch l.Type {
		case "conv2d":
			if len(l.InputHWC) != 3 || len(l.OutputHW) != 2 || l.Stride < 1 || l.Kernel < 1 || l.Padding < 0 {
				return fail(li, "incomplete conv2d")
			}
			H, W, C := l.InputHWC[0], l.InputHWC[1], l.InputHWC[2]
			if rows*width != H*W*C {
				return fail(li, "%d inputs, input_hwc %v needs %d", rows*width, l.InputHWC, H*W*C)
			}
			K, S, P := l.Kernel, l.Stride, l.Padding
			oh, ow := (H+2*P-K)/S+1, (W+2*P-K)/S+1
			if oh != l.OutputHW[0] || ow != l.OutputHW[1] || K*K*C != l.In {
				return fail(li, "output_hw %v and in %d, the geometry gives (%d, %d) and %d", l.OutputHW, l.In, oh, ow, K*K*C)
			}
			cols := make([]int, oh*ow*l.In)
			for oy := range oh {
				for ox := range ow {
					patch := cols[(oy*ow+ox)*l.In:]
					for ky := range K {
						for kx := range K {
							iy, ix := oy*S-P+ky, ox*S-P+kx
							if iy < 0 || iy >= H || ix < 0 || ix >= W {
								continue // zero padding
							}
							for c := range C {
								patch[(ky*K+kx)*C+c] = h[(iy*W+ix)*C+c]
							}
						}
					}
				}
			}
			y, err := m.product(li, l, weights, cols, oh*ow)
			if err != nil {
				return res, err
			}
			res.Outputs = append(res.Outputs, y)
			h, rows, width = ints(y), oh*ow, l.Out
		case "dense":
			if l.In < 1 || width != l.In {
				return fail(li, "in %d, its input rows hold %d values", l.In, width)
			}
			y, err := m.product(li, l, weights, h, rows)
			if err != nil {
				return res, err
			}
			res.Outputs = append(res.Outputs, y)
			h, width = ints(y), l.Out
		case "converting_relu":
			if l.Shift == nil || *l.Shift < 0 || *l.Shift > 30 {
				return fail(li, "converting_relu without a valid shift")
			}
			for i, v := range h {
				h[i] = min(sem.InputMax, max(0, min(sem.OutputMax, v))>>*l.Shift)
			}
		case "flatten":
			rows, width = 1, rows*width
		default:
			return fail(li, "unknown type %q", l.Type)
		}
	}
	if len(res.Outputs) == 0 || rows != 1 {
		return res, &Error{Op: "infer", File: m.path, Field: "layers", Msg: "the network does not end with an analog layer giving one row"}
	}
	res.Logits = res.Outputs[len(res.Outputs)-1]
	res.Class = argmax(ints(res.Logits))
	return res, nil
}

// product runs the rows input vectors x (rows x In) through layer l's
// weights tile by tile, as ProductRule says.
func (m *Manifest) product(li int, l ManifestLayer, weights map[string][]int8, x []int, rows int) ([]int8, error) {
	w := weights[l.Name]
	if l.Out < 1 || len(w) != l.In*l.Out || len(x) != rows*l.In || l.Sends < 1 {
		return nil, &Error{Op: "infer", File: m.path, Field: fmt.Sprintf("layers[%d]", li),
			Msg: fmt.Sprintf("layer %s: %d weights for %dx%d, %d inputs for %d rows, %d sends", l.Name, len(w), l.In, l.Out, len(x), rows, l.Sends)}
	}
	for _, t := range l.Tiles {
		if t.Row0 < 0 || t.Row0 > t.Row1 || t.Row1 > l.In || t.Col0 < 0 || t.Col0 > t.Col1 || t.Col1 > l.Out {
			return nil, &Error{Op: "infer", File: m.path, Field: fmt.Sprintf("layers[%d].tiles", li), Msg: fmt.Sprintf("tile %+v outside the %dx%d matrix", t, l.In, l.Out)}
		}
	}
	k := m.GainPerSend * float64(l.Sends) // one float64, computed first
	lo, hi := m.Semantics.OutputMin, m.Semantics.OutputMax
	y := make([]int8, rows*l.Out)
	tot := make([]int, l.Out)
	for r := range rows {
		xr := x[r*l.In : (r+1)*l.In]
		clear(tot)
		for _, t := range l.Tiles {
			for c := t.Col0; c < t.Col1; c++ {
				s := 0
				for i := t.Row0; i < t.Row1; i++ {
					s += xr[i] * int(w[i*l.Out+c])
				}
				tot[c] += min(hi, max(lo, int(math.Floor(k*float64(s)))))
			}
		}
		for c, v := range tot {
			y[r*l.Out+c] = int8(min(hi, max(lo, v)))
		}
	}
	return y, nil
}
