package models

import (
	"fmt"
	"math"
	"regexp"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// layerName is what an analog layer may be called: it becomes an npz key.
var layerName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Build checks s against samples of the given geometry and number of
// classes and builds the network, with zero weights (see Init). The
// network's Spec is s resolved: every default filled in. A description
// that cannot work is refused with a *SpecError naming the layer and field.
func Build(s Spec, in Input, classes int) (*Network, error) {
	r := s.Clone()
	netErr := func(field, format string, args ...any) error {
		return &SpecError{Layer: -1, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if r.GainPerSend == 0 {
		r.GainPerSend = analogmac.DefaultGain
	}
	if !(r.GainPerSend > 0) || math.IsInf(r.GainPerSend, 0) {
		return nil, netErr("gain_per_send", "%g: want a finite value > 0", r.GainPerSend)
	}
	if r.LogitScale == 0 {
		r.LogitScale = DefaultLogitScale
	}
	if !(r.LogitScale > 0) || math.IsInf(r.LogitScale, 0) {
		return nil, netErr("logit_scale", "%g: want a finite value > 0", r.LogitScale)
	}
	// Each size on its own first: their product could overflow.
	if in.Height < 1 || in.Width < 1 || in.Channels < 1 || in.Height > MaxActivations || in.Width > MaxActivations ||
		in.Channels > MaxActivations || in.Values() > MaxActivations {
		return nil, netErr("input", "samples of %dx%dx%d: want positive sizes and at most %d values", in.Height, in.Width, in.Channels, MaxActivations)
	}
	if r.Input != nil && *r.Input != in {
		return nil, netErr("input", "the network takes %dx%dx%d samples, the data has %dx%dx%d",
			r.Input.Height, r.Input.Width, r.Input.Channels, in.Height, in.Width, in.Channels)
	}
	r.Input = &in
	if classes < 2 || classes > MaxOut {
		return nil, netErr("classes", "the data has %d classes: want 2..%d", classes, MaxOut)
	}
	if r.Classes != 0 && r.Classes != classes {
		return nil, netErr("classes", "the network has %d classes, the data %d", r.Classes, classes)
	}
	r.Classes = classes
	if len(r.Layers) == 0 || len(r.Layers) > MaxLayers {
		return nil, netErr("layers", "%d layers: want 1..%d", len(r.Layers), MaxLayers)
	}
	lastAnalog := -1
	for i, l := range r.Layers {
		if l.Type == Conv2d || l.Type == Dense {
			lastAnalog = i
		}
	}
	if lastAnalog != len(r.Layers)-1 {
		return nil, &SpecError{Layer: len(r.Layers) - 1, Type: r.Layers[len(r.Layers)-1].Type, Field: "type",
			Msg: "the last layer must be an analog layer (conv2d or dense): its outputs are the class scores"}
	}

	n := &Network{Input: in, Classes: classes, GainPerSend: r.GainPerSend, LogitScale: r.LogitScale}
	// The walk's state: a sample is rows x features; geom is its spatial
	// layout while there is one.
	h, w, c := in.Height, in.Width, in.Channels
	rows, features := 1, in.Values()
	fiveBit := true // inputs to the next analog layer are 0..31
	names := map[string]int{}
	var total int
	for i := range r.Layers {
		l := &r.Layers[i]
		bad := func(field, format string, args ...any) error {
			return &SpecError{Layer: i, Type: l.Type, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		notFor := func(field string, set bool) error {
			if set {
				return bad(field, "does not apply to a %s layer", l.Type)
			}
			return nil
		}
		switch l.Type {
		case Conv2d, Dense:
			if err := firstErr(notFor("shift", l.Shift != nil)); err != nil {
				return nil, err
			}
			if l.Type == Dense {
				if err := firstErr(notFor("kernel", l.Kernel != 0), notFor("stride", l.Stride != 0), notFor("padding", l.Padding != 0)); err != nil {
					return nil, err
				}
			}
			if !fiveBit {
				return nil, bad("type", "an analog layer takes 5-bit inputs: put a converting_relu before it")
			}
			if l.Name == "" {
				l.Name = fmt.Sprintf("%s%d", l.Type, i)
			}
			if !layerName.MatchString(l.Name) {
				return nil, bad("name", "%q: want a letter, then up to 63 letters, digits, '_' or '-'", l.Name)
			}
			if j, dup := names[l.Name]; dup {
				return nil, bad("name", "%q is also the name of layer %d", l.Name, j)
			}
			names[l.Name] = i
			if l.Out == 0 && i == lastAnalog {
				l.Out = classes
			}
			if l.Out < 1 || l.Out > MaxOut {
				return nil, bad("out", "%d: want 1..%d", l.Out, MaxOut)
			}
			if i == lastAnalog && l.Out != classes {
				return nil, bad("out", "%d: the last layer needs one output per class, %d", l.Out, classes)
			}
			if l.Placement == nil {
				l.Placement = &analogmac.Placement{}
			}
			if l.Sends < 0 || l.Sends > analogmac.MaxSends {
				return nil, bad("sends", "%d: want 1..%d (0: derived from the gain and fan-in)", l.Sends, analogmac.MaxSends)
			}
			var fanIn int
			var geom layers.Geometry
			if l.Type == Conv2d {
				if rows != 1 {
					return nil, bad("type", "a conv2d reads whole samples: put a flatten before it")
				}
				if l.Stride == 0 {
					l.Stride = 1
				}
				if l.Kernel < 1 || l.Kernel > MaxKernel {
					return nil, bad("kernel", "%d: want 1..%d", l.Kernel, MaxKernel)
				}
				if l.Stride < 1 || l.Stride > MaxKernel {
					return nil, bad("stride", "%d: want 1..%d", l.Stride, MaxKernel)
				}
				if l.Padding < 0 || l.Padding >= l.Kernel {
					return nil, bad("padding", "%d: want 0..kernel-1 (%d)", l.Padding, l.Kernel-1)
				}
				var err error
				if geom, err = layers.NewGeometry(h, w, c, l.Kernel, l.Stride, l.Padding); err != nil {
					return nil, bad("kernel", "%v", err)
				}
				fanIn = geom.PatchRows
			} else {
				fanIn = features
			}
			if fanIn > analogmac.MaxRows || fanIn*l.Out > MaxLayerWeights {
				return nil, bad("out", "%d inputs x %d outputs: at most %d inputs and %d weights per layer", fanIn, l.Out, analogmac.MaxRows, MaxLayerWeights)
			}
			if total += fanIn * l.Out; total > MaxTotalWeights {
				return nil, bad("out", "the network would hold more than %d weights", MaxTotalWeights)
			}
			if _, err := analogmac.Tiles(fanIn, l.Out, *l.Placement); err != nil {
				return nil, bad("placement", "%v", err)
			}
			if l.Sends == 0 {
				l.Sends = SendsFor(fanIn, r.GainPerSend)
			}
			if l.Type == Conv2d {
				layer, err := layers.NewConv2d(l.Name, geom, l.Out, l.Sends, *l.Placement)
				if err != nil {
					return nil, bad("type", "%v", err)
				}
				n.Layers = append(n.Layers, layer)
				rows, features = geom.Patches, l.Out
				h, w, c = geom.OutH, geom.OutW, l.Out
				if rows*features > MaxActivations {
					return nil, bad("out", "%d outputs per sample: at most %d", rows*features, MaxActivations)
				}
			} else {
				layer, err := layers.NewDense(l.Name, fanIn, l.Out, l.Sends, *l.Placement)
				if err != nil {
					return nil, bad("type", "%v", err)
				}
				n.Layers = append(n.Layers, layer)
				features, c = l.Out, l.Out
				if rows == 1 {
					h, w = 1, 1
				}
			}
			fiveBit = false
		case ConvertingReLU:
			if err := firstErr(notFor("name", l.Name != ""), notFor("out", l.Out != 0), notFor("kernel", l.Kernel != 0),
				notFor("stride", l.Stride != 0), notFor("padding", l.Padding != 0), notFor("sends", l.Sends != 0),
				notFor("placement", l.Placement != nil)); err != nil {
				return nil, err
			}
			if l.Shift == nil {
				l.Shift = intp(DefaultShift)
			}
			if *l.Shift < 0 || *l.Shift > layers.MaxShift {
				return nil, bad("shift", "%d: want 0..%d", *l.Shift, layers.MaxShift)
			}
			if i == 0 {
				return nil, bad("type", "a converting_relu needs an analog layer before it: the input is already 5-bit")
			}
			act, err := layers.NewConvertingReLU(*l.Shift)
			if err != nil {
				return nil, bad("shift", "%v", err)
			}
			n.Layers = append(n.Layers, act)
			fiveBit = true
		case Flatten:
			if err := firstErr(notFor("name", l.Name != ""), notFor("out", l.Out != 0), notFor("kernel", l.Kernel != 0),
				notFor("stride", l.Stride != 0), notFor("padding", l.Padding != 0), notFor("sends", l.Sends != 0),
				notFor("placement", l.Placement != nil), notFor("shift", l.Shift != nil)); err != nil {
				return nil, err
			}
			features, rows = rows*features, 1
			n.Layers = append(n.Layers, layers.Flatten{PerSample: features})
		case "":
			return nil, bad("type", "missing: want conv2d, dense, converting_relu or flatten")
		default:
			return nil, bad("type", "%q: want conv2d, dense, converting_relu or flatten", l.Type)
		}
	}
	if rows != 1 {
		return nil, &SpecError{Layer: len(r.Layers) - 1, Type: r.Layers[len(r.Layers)-1].Type, Field: "type",
			Msg: fmt.Sprintf("the network ends with %d rows per sample: put a flatten before the last layer", rows)}
	}
	n.Spec = r
	return n, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
