package models

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// Network is a sequence of layers over samples, defined once and run on any
// device: the device is given to each graph (NewGraph) or trace (Trace),
// never stored here. A Network holds the parameters; its graphs share them.
type Network struct {
	// Spec is the description the network was built from, resolved: Build
	// rebuilds the same network from it.
	Spec    Spec
	Input   Input // a sample's geometry, channels last
	Classes int
	// GainPerSend is the gain the network is designed for: float mode's, and
	// what Init assumes.
	GainPerSend float64
	// LogitScale multiplies the last layer's outputs (LSB) before the
	// softmax: the outputs span about +-100 LSB, far too peaked as logits.
	LogitScale float64
	Layers     []layers.Layer

	// graphs serialises building graphs: Gorgonia's machine writes to the
	// shared parameter tensors (their engine) when it is made.
	graphs sync.Mutex
}

// New builds a built-in model (Builtin) for samples of the given geometry.
func New(name string, in Input, classes int) (*Network, error) {
	s, err := Builtin(name)
	if err != nil {
		return nil, err
	}
	return Build(s, in, classes)
}

// Inputs is the number of input values per sample.
func (n *Network) Inputs() int { return n.Input.Values() }

// Params lists every trainable parameter in a fixed order.
func (n *Network) Params() []*layers.Param {
	var ps []*layers.Param
	for _, l := range n.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Analog lists the layers whose products run on the array, in order.
func (n *Network) Analog() []*layers.Analog {
	var as []*layers.Analog
	for _, l := range n.Layers {
		switch l := l.(type) {
		case *layers.Dense:
			as = append(as, l.Analog)
		case *layers.Conv2d:
			as = append(as, l.Analog)
		}
	}
	return as
}

// Sends lists the analog layers' sends, in order.
func (n *Network) Sends() []int {
	var s []int
	for _, a := range n.Analog() {
		s = append(s, a.Sends)
	}
	return s
}

// Describe lists the layers' descriptions in order.
func (n *Network) Describe() []layers.Description {
	ds := make([]layers.Description, len(n.Layers))
	for i, l := range n.Layers {
		ds[i] = l.Describe()
	}
	return ds
}

// InputMoment is the mean square of a 5-bit input value that weight
// initialisation assumes: measured over the MNIST training set after
// ScaleImages (about 100), and typical of ConvertingReLU outputs early in
// training. It sets the expected output spread.
const InputMoment = 100.0

// TargetStd is the output spread, in LSB, that initialisation aims for:
// a fifth of the ADC range, so that three standard deviations stay inside
// the chip's linear range of about +-80 LSB.
const TargetStd = 25.0

// SendsFor picks the number of sends that lets weights of a third of their
// range (std 21) reach TargetStd on a layer of the given fan-in, as hxtorch
// derives num_sends from the gain and fan-in.
func SendsFor(fanIn int, gain float64) int {
	perSend := gain * (analogmac.WeightMax / 3.0) * math.Sqrt(float64(fanIn)*InputMoment)
	return min(analogmac.MaxSends, max(1, int(math.Round(TargetStd/perSend))))
}

// Init draws every analog layer's weights from a normal distribution whose
// std makes the layer's output spread TargetStd LSB given its sends, clipped
// to the weight range; biases start at zero. The seed fixes every draw.
func (n *Network) Init(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x616e616c6f67)) // "analog"
	for _, a := range n.Analog() {
		std := TargetStd / (n.GainPerSend * float64(a.Sends) * math.Sqrt(float64(a.In)*InputMoment))
		w := a.Weights()
		for i := range w {
			w[i] = float32(std * rng.NormFloat64())
		}
		a.ClampWeights()
	}
	for _, p := range n.Params() {
		if p.Clamp == nil { // biases
			clear(p.Data())
		}
	}
}

// CopyWeightsFrom copies every parameter of o (same architecture) into n.
func (n *Network) CopyWeightsFrom(o *Network) error {
	ps, qs := n.Params(), o.Params()
	if len(ps) != len(qs) {
		return fmt.Errorf("models: %d parameters vs %d", len(ps), len(qs))
	}
	for i := range ps {
		if len(ps[i].Data()) != len(qs[i].Data()) {
			return fmt.Errorf("models: parameter %d: %d values vs %d", i, len(ps[i].Data()), len(qs[i].Data()))
		}
		copy(ps[i].Data(), qs[i].Data())
	}
	return nil
}

// Clone returns a network of the same Spec holding a copy of n's weights.
func (n *Network) Clone() (*Network, error) {
	c, err := Build(n.Spec, n.Input, n.Classes)
	if err != nil {
		return nil, err
	}
	return c, c.CopyWeightsFrom(n)
}

// Trace runs count samples (raw 8-bit values, count x Inputs) through the
// network layer by layer on d and returns every analog layer's int8 outputs
// for the whole batch, in layer order; noise keys come from keys. It is the
// plain walk that exports record as reference vectors.
func (n *Network) Trace(ctx context.Context, d analogmac.Device, samples []uint8, count int, keys *analogmac.NoiseKeys) ([][]int8, error) {
	if d == nil {
		return nil, fmt.Errorf("models: trace: no device: the integer outputs need one")
	}
	if len(samples) != count*n.Inputs() {
		return nil, fmt.Errorf("models: trace: %d values for %d samples of %d", len(samples), count, n.Inputs())
	}
	ex := layers.NewExec(d, n.GainPerSend)
	defer ex.Close()
	ex.Begin(ctx, keys)
	h := make([]float32, len(samples))
	layers.ScaleImages(h, samples)
	rows, width := count, n.Inputs()
	var outs [][]int8
	for i, l := range n.Layers {
		switch l := l.(type) {
		case *layers.Conv2d:
			g := l.Geom
			cols := make([]float32, rows*g.Patches*g.PatchRows)
			g.Im2Col(cols, h, rows)
			y := make([]float32, rows*g.Patches*l.Out)
			if err := l.NewKernel(ex).Forward(y, cols, rows*g.Patches); err != nil {
				return nil, err
			}
			outs = append(outs, int8s(y))
			h, rows, width = y, rows*g.Patches, l.Out
		case *layers.Dense:
			r := rows * width / l.In
			y := make([]float32, r*l.Out)
			if err := l.NewKernel(ex).Forward(y, h, r); err != nil {
				return nil, err
			}
			outs = append(outs, int8s(y))
			h, rows, width = y, r, l.Out
		case *layers.ConvertingReLU:
			h = slices.Clone(h)
			l.Forward(h, h, false)
		case layers.Flatten:
			if (rows*width)%l.PerSample != 0 {
				return nil, fmt.Errorf("models: trace: layer %d: flatten %dx%d into rows of %d", i, rows, width, l.PerSample)
			}
			rows, width = rows*width/l.PerSample, l.PerSample
		default:
			return nil, fmt.Errorf("models: trace: layer %d: %T cannot be traced", i, l)
		}
	}
	return outs, nil
}

func int8s(v []float32) []int8 {
	out := make([]int8, len(v))
	for i, x := range v {
		out[i] = int8(x)
	}
	return out
}
