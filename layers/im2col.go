package layers

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Geometry describes a 2-D convolution over channels-last (HWC) images:
// each output position reads a Kernel x Kernel x C patch, which becomes one
// input vector of the analog array, rows ordered (ky, kx, c).
type Geometry struct {
	H, W, C         int // input height, width, channels
	Kernel, Stride  int
	Pad             int // zeros added on every side
	OutH, OutW      int // derived
	PatchRows       int // Kernel*Kernel*C
	Patches         int // OutH*OutW
	InputsPerSample int // H*W*C
}

// NewGeometry checks a convolution's parameters and derives its sizes.
func NewGeometry(h, w, c, kernel, stride, pad int) (Geometry, error) {
	g := Geometry{H: h, W: w, C: c, Kernel: kernel, Stride: stride, Pad: pad}
	if h < 1 || w < 1 || c < 1 || kernel < 1 || stride < 1 || pad < 0 {
		return g, fmt.Errorf("layers: conv %dx%dx%d kernel %d stride %d pad %d: sizes must be positive, pad non-negative", h, w, c, kernel, stride, pad)
	}
	if kernel > h+2*pad || kernel > w+2*pad {
		return g, fmt.Errorf("layers: conv kernel %d larger than the padded %dx%d input", kernel, h+2*pad, w+2*pad)
	}
	g.OutH = (h+2*pad-kernel)/stride + 1
	g.OutW = (w+2*pad-kernel)/stride + 1
	g.PatchRows = kernel * kernel * c
	g.Patches = g.OutH * g.OutW
	g.InputsPerSample = h * w * c
	return g, nil
}

// Im2Col writes the patches of a batch of images x (batch x H*W*C) into
// cols (batch*Patches x PatchRows), zeros where a patch overlaps the padding.
func (g Geometry) Im2Col(cols, x []float32, batch int) { im2col(g, cols, x, batch) }

// im2col is Im2Col for float32 activations and for the 5-bit inputs of a
// device.
func im2col[T float32 | uint8](g Geometry, cols, x []T, batch int) {
	if g.Kernel*g.C <= 16 {
		im2colBytes(g, cols, x, batch, make([]T, g.padSize()))
		return
	}
	rowLen := g.Kernel * g.C
	for b := 0; b < batch; b++ {
		img := x[b*g.InputsPerSample:]
		for oy := 0; oy < g.OutH; oy++ {
			for ox := 0; ox < g.OutW; ox++ {
				patch := cols[((b*g.OutH+oy)*g.OutW+ox)*g.PatchRows:][:g.PatchRows]
				x0 := ox*g.Stride - g.Pad
				// The patch's columns inside the image: [lo, hi) of the row.
				lo, hi := max(0, -x0)*g.C, (min(g.W, x0+g.Kernel)-x0)*g.C
				for ky := 0; ky < g.Kernel; ky++ {
					dst := patch[ky*rowLen:][:rowLen]
					iy := oy*g.Stride - g.Pad + ky
					if iy < 0 || iy >= g.H || lo >= hi {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					copy(dst[lo:hi], img[(iy*g.W+x0)*g.C+lo:])
					clear(dst[hi:])
				}
			}
		}
	}
}

// im2colBytes is im2col for patch rows of at most 16 values (a 10x10 kernel
// over one channel: 10): each image is first copied into the middle of a
// zero-padded one (pad, reused; its border stays zero), so that every
// patch row is a plain copy without a call of copy or a test for the
// border. A patch's rows follow each other in cols, and so do the
// patches: cutPatches copies each row as one 16-value word, whose spill
// past the row the next row overwrites; only where the last word would
// run past the end of cols (or of pad) do rows take two overlapping
// 8-value words.
func im2colBytes[T float32 | uint8](g Geometry, cols, x []T, batch int, pad []T) {
	rowLen := g.Kernel * g.C
	wp := (g.W + 2*g.Pad) * g.C // a padded row
	line := g.W * g.C
	step := g.Stride * g.C // from one patch to the next in pad
	// The end of a band's last word, from its first patch, in cols and in
	// pad.
	outEnd := (g.OutW-1)*g.PatchRows + (g.Kernel-1)*rowLen + 16
	srcEnd := (g.OutW-1)*step + (g.Kernel-1)*wp + 16
	for b := 0; b < batch; b++ {
		img := x[b*g.InputsPerSample:][:g.InputsPerSample]
		out := cols[b*g.Patches*g.PatchRows:]
		if im2colImageVector(g, out, img, pad) {
			continue
		}
		for y := 0; y < g.H; y++ {
			copyLine(pad[(y+g.Pad)*wp+g.Pad*g.C:][:line], img[y*line:][:line])
		}
		for oy := 0; oy < g.OutH; oy++ {
			o, src := out[oy*g.OutW*g.PatchRows:], pad[oy*g.Stride*wp:]
			if outEnd <= len(o) && srcEnd <= len(src) {
				cutPatches(o[:outEnd], src[:srcEnd], g.OutW, g.PatchRows, step, g.Kernel, rowLen, wp)
				continue
			}
			for ox := 0; ox < g.OutW; ox++ {
				patch := o[ox*g.PatchRows:][:g.PatchRows]
				s := src[ox*step:]
				for ky := 0; ky < g.Kernel; ky++ {
					copySmall(patch[ky*rowLen:][:rowLen], s[ky*wp:][:rowLen])
				}
			}
		}
	}
}

// cutPatches copies a band of n patches of k rows from src (rows wp
// apart, patches step apart) into out (patches pr apart, rows rowLen
// apart), each row as one 16-value word; out and src hold every word. A
// function of its own so that its loop counters stay in registers.
//
//go:noinline
func cutPatches[T float32 | uint8](out, src []T, n, pr, step, k, rowLen, wp int) {
	last := (k - 1) * wp
	for p := 0; p < n; p++ {
		o, s := out[p*pr:], src[p*step:][:last+16]
		for ky := 0; ky <= last; ky += wp {
			*(*[16]T)(o) = *(*[16]T)(s[ky:])
			o = o[rowLen:]
		}
	}
}

// padSize is the size of im2colBytes's padded image, with room for the
// 16-value word of the last patch row.
func (g Geometry) padSize() int { return (g.H+2*g.Pad)*(g.W+2*g.Pad)*g.C + 16 }

// copySmall copies up to 16 values without calling memmove.
func copySmall[T float32 | uint8](dst, src []T) {
	n := len(src)
	if n >= 8 {
		*(*[8]T)(dst) = *(*[8]T)(src)
		*(*[8]T)(dst[n-8:]) = *(*[8]T)(src[n-8:])
		return
	}
	for i, v := range src {
		dst[i] = v
	}
}

// copyLine copies an image row into the padded image: 16 to 32 values
// (MNIST's 28) as two overlapping 16-value words, others with copy.
func copyLine[T float32 | uint8](dst, src []T) {
	n := len(src)
	if n < 16 || n > 32 {
		copy(dst, src)
		return
	}
	*(*[16]T)(dst) = *(*[16]T)(src)
	*(*[16]T)(dst[n-16:]) = *(*[16]T)(src[n-16:])
}

// Col2Im adds patch gradients back onto the images: the adjoint of Im2Col.
func (g Geometry) Col2Im(dx, cols []float32, batch int) {
	clear(dx)
	for b := 0; b < batch; b++ {
		img := dx[b*g.InputsPerSample:]
		for oy := 0; oy < g.OutH; oy++ {
			for ox := 0; ox < g.OutW; ox++ {
				patch := cols[((b*g.OutH+oy)*g.OutW+ox)*g.PatchRows:]
				for ky := 0; ky < g.Kernel; ky++ {
					iy := oy*g.Stride - g.Pad + ky
					if iy < 0 || iy >= g.H {
						continue
					}
					for kx := 0; kx < g.Kernel; kx++ {
						ix := ox*g.Stride - g.Pad + kx
						if ix < 0 || ix >= g.W {
							continue
						}
						for c := 0; c < g.C; c++ {
							img[(iy*g.W+ix)*g.C+c] += patch[(ky*g.Kernel+kx)*g.C+c]
						}
					}
				}
			}
		}
	}
}

type im2colOp struct {
	opBase
	g Geometry
}

func (op *im2colOp) Type() hm.Type { return fnType(1, matrixType()) }
func (op *im2colOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 2 || s[1] != op.g.InputsPerSample {
		return nil, fmt.Errorf("layers: im2col input shape %v: want (batch, %d)", in[0], op.g.InputsPerSample)
	}
	return tensor.Shape{s[0] * op.g.Patches, op.g.PatchRows}, nil
}

func (op *im2colOp) Do(vals ...G.Value) (G.Value, error) {
	x, err := f32(vals[0])
	if err != nil {
		return nil, err
	}
	batch := len(x) / op.g.InputsPerSample
	out := op.output(batch*op.g.Patches, op.g.PatchRows)
	op.g.Im2Col(out.Data().([]float32), x, batch)
	return out, nil
}

func (op *im2colOp) DiffWRT(int) []bool { return []bool{true} }

func (op *im2colOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g, err := G.ApplyOp(&col2imOp{base("col2im", op.id, 1), op.g}, grad)
	return G.Nodes{g}, err
}

type col2imOp struct {
	opBase
	g Geometry
}

func (op *col2imOp) Type() hm.Type { return fnType(1, matrixType()) }
func (op *col2imOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0] / op.g.Patches, op.g.InputsPerSample}, nil
}

func (op *col2imOp) Do(vals ...G.Value) (G.Value, error) {
	cols, err := f32(vals[0])
	if err != nil {
		return nil, err
	}
	batch := len(cols) / (op.g.Patches * op.g.PatchRows)
	out := op.output(batch, op.g.InputsPerSample)
	op.g.Col2Im(out.Data().([]float32), cols, batch)
	return out, nil
}
