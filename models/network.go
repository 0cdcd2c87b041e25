package models

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// Network is a sequence of layers over images, defined once and run in any
// mode: which one is only the choice of Backend.Device.
type Network struct {
	Kind    string // "bss2-mnist" or "mlp"
	Config  Config // what New was given, with defaults filled in
	H, W, C int    // input image size (channels last)
	Classes int
	// LogitScale multiplies the last layer's outputs (LSB) before the
	// softmax: the outputs span about +-100 LSB, far too peaked as logits.
	LogitScale float64
	Layers     []layers.Layer
	Backend    *layers.Backend
}

// Use moves the network onto device d; nil selects float mode.
func (n *Network) Use(d analogmac.Device) { n.Backend.Device = d }

// Inputs is the number of input values per sample.
func (n *Network) Inputs() int { return n.H * n.W * n.C }

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
	return max(1, int(math.Round(TargetStd/perSend)))
}

// Init draws every analog layer's weights from a normal distribution whose
// std makes the layer's output spread TargetStd LSB given its sends, clipped
// to the weight range; biases start at zero. The seed fixes every draw.
func (n *Network) Init(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x616e616c6f67)) // "analog"
	for _, a := range n.Analog() {
		std := TargetStd / (a.Backend().Gain() * float64(a.Sends) * math.Sqrt(float64(a.In)*InputMoment))
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
