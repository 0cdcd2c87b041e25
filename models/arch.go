package models

import (
	"fmt"
	"math"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// Model kinds accepted by New.
const (
	BSS2MNISTKind = "bss2-mnist"
	MLPKind       = "mlp"
)

// Kinds lists the model kinds New accepts.
var Kinds = []string{BSS2MNISTKind, MLPKind}

// Config holds a model's tunable hyper-parameters. Zero values take defaults.
type Config struct {
	// Sends per analog layer, in order; nil: derived from the gain and
	// fan-in by SendsFor.
	Sends []int `json:"sends"`
	// Shift of each ConvertingReLU (hxtorch's MNIST example uses 1).
	Shift int `json:"shift"`
	// LogitScale multiplies output LSB into softmax logits.
	LogitScale float64 `json:"logit_scale"`
	// Hidden is the MLP's hidden width.
	Hidden int `json:"hidden,omitempty"`
}

// DefaultLogitScale makes an output difference of 4 LSB a factor e: small
// enough logits need not reach the output clamp at ±127, which the
// straight-through gradient cannot see (at 1/16 training stalls at 95-97 %).
const DefaultLogitScale = 0.25

// Limits on a Config: generous for experiments, but a config read from a
// file (an export's manifest) must not make New allocate without bound.
const (
	MaxSends  = 1024
	MaxHidden = 8192
)

// New builds a model of the given kind for 28x28 single-channel images.
func New(kind string, cfg Config) (*Network, error) {
	if cfg.LogitScale == 0 {
		cfg.LogitScale = DefaultLogitScale
	}
	if cfg.Shift == 0 {
		cfg.Shift = 1
	}
	if !(cfg.LogitScale > 0) || math.IsInf(cfg.LogitScale, 0) {
		return nil, fmt.Errorf("models: logit scale %g: want a finite value > 0", cfg.LogitScale)
	}
	if cfg.Hidden < 0 || cfg.Hidden > MaxHidden {
		return nil, fmt.Errorf("models: hidden width %d: want 1..%d (0: default)", cfg.Hidden, MaxHidden)
	}
	for i, s := range cfg.Sends {
		if s < 1 || s > MaxSends {
			return nil, fmt.Errorf("models: sends of analog layer %d = %d: want 1..%d", i, s, MaxSends)
		}
	}
	var n *Network
	var err error
	switch kind {
	case BSS2MNISTKind:
		n, err = BSS2MNIST(cfg)
	case MLPKind:
		n, err = MLP(cfg)
	default:
		return nil, fmt.Errorf("models: unknown model %q: want one of %v", kind, Kinds)
	}
	if err != nil {
		return nil, err
	}
	n.Config = cfg
	n.Config.Sends = make([]int, 0, 3)
	for _, a := range n.Analog() {
		n.Config.Sends = append(n.Config.Sends, a.Sends)
	}
	return n, nil
}

func sendsOf(cfg Config, fanIns []int, gain float64) ([]int, error) {
	if cfg.Sends == nil {
		s := make([]int, len(fanIns))
		for i, f := range fanIns {
			s[i] = SendsFor(f, gain)
		}
		return s, nil
	}
	if len(cfg.Sends) != len(fanIns) {
		return nil, fmt.Errorf("models: %d sends given, the model has %d analog layers", len(cfg.Sends), len(fanIns))
	}
	return cfg.Sends, nil
}

// BSS2MNIST is the network run on BrainScaleS-2 for MNIST (hxtorch's
// example): 28x28 zero-padded by 1 -> Conv2d 1->20, kernel 10, stride 5
// (5x5x20 = 500 outputs) -> ConvertingReLU -> Dense 500->128 ->
// ConvertingReLU -> Dense 128->10, no biases. The three analog layers sit on
// different physical columns: conv on 0..19, dense1 on 256..383 (the other
// half), dense2 on 32..41.
func BSS2MNIST(cfg Config) (*Network, error) {
	b := layers.NewBackend()
	geom, err := layers.NewGeometry(28, 28, 1, 10, 5, 1)
	if err != nil {
		return nil, err
	}
	sends, err := sendsOf(cfg, []int{geom.PatchRows, geom.Patches * 20, 128}, b.Gain())
	if err != nil {
		return nil, err
	}
	conv, err := layers.NewConv2d("conv", geom, 20, sends[0], analogmac.Placement{Column: 0}, b)
	if err != nil {
		return nil, err
	}
	r1, err := layers.NewConvertingReLU(cfg.Shift, b)
	if err != nil {
		return nil, err
	}
	d1, err := layers.NewDense("dense1", geom.Patches*20, 128, sends[1], analogmac.Placement{Column: 256}, b)
	if err != nil {
		return nil, err
	}
	r2, _ := layers.NewConvertingReLU(cfg.Shift, b)
	d2, err := layers.NewDense("dense2", 128, 10, sends[2], analogmac.Placement{Column: 32}, b)
	if err != nil {
		return nil, err
	}
	return &Network{Kind: BSS2MNISTKind, H: 28, W: 28, C: 1, Classes: 10, LogitScale: cfg.LogitScale, Backend: b,
		Layers: []layers.Layer{conv, r1, layers.Flatten{PerSample: geom.Patches * 20}, d1, r2, d2}}, nil
}

// MLP is a small 784 -> Hidden -> 10 network for quick experiments.
func MLP(cfg Config) (*Network, error) {
	if cfg.Hidden == 0 {
		cfg.Hidden = 128
	}
	b := layers.NewBackend()
	sends, err := sendsOf(cfg, []int{784, cfg.Hidden}, b.Gain())
	if err != nil {
		return nil, err
	}
	d1, err := layers.NewDense("dense1", 784, cfg.Hidden, sends[0], analogmac.Placement{}, b)
	if err != nil {
		return nil, err
	}
	r1, err := layers.NewConvertingReLU(cfg.Shift, b)
	if err != nil {
		return nil, err
	}
	d2, err := layers.NewDense("dense2", cfg.Hidden, 10, sends[1], analogmac.Placement{Column: 256}, b)
	if err != nil {
		return nil, err
	}
	return &Network{Kind: MLPKind, H: 28, W: 28, C: 1, Classes: 10, LogitScale: cfg.LogitScale, Backend: b,
		Layers: []layers.Layer{d1, r1, d2}}, nil
}
