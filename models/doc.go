// Package models defines networks as data and builds them from package
// layers, once, for every device.
//
// A Spec is a sequential network described as data: the layer list an
// export manifest records (conv2d, dense, converting_relu, flatten, with
// sends, shift and placement), read from JSON by ReadSpec and written back
// by encoding/json. Build checks a Spec against the data's geometry (its
// sample height, width and channels, and its number of classes) and builds
// a Network; a description that cannot work is refused before any work by
// a *SpecError naming the layer index and the field. The Network keeps the
// Spec resolved, every default filled in, so that it rebuilds the same
// network on its own. docs/networks.md documents the format.
//
// The built-in models are Specs (Builtin): BSS2MNIST is the network run on
// BrainScaleS-2 for MNIST (Weis et al. 2020; hxtorch's example): 28x28
// images zero-padded by 1, Conv2d 1->20 with a 10x10 kernel and stride 5
// (5x5x20 = 500 outputs), ConvertingReLU, Dense 500->128, ConvertingReLU,
// Dense 128->10, no biases. MLP is a one-hidden-layer network for any data,
// YinYang the network for the Yin-Yang dataset.
//
// Weights live in hardware units. Init draws them so that each layer's
// outputs spread over about TargetStd LSB (a fifth of the ADC range, three
// standard deviations inside the linear range), and SendsFor picks each
// layer's number of sends from the gain and fan-in so that weights of a
// third of their range get there, as hxtorch does.
//
// A Network holds parameters, never a device. NewGraph compiles it for a
// fixed batch size on the device given in GraphOptions (nil: float mode on
// the host), with the loss gradients when it is for training: on a
// layers.Runner, or as a Gorgonia graph where a Runner cannot run it (both
// compute the same numbers); Trace walks it layer by layer on a device. All graphs
// of a network share its parameter tensors and nothing else, so graphs on
// different devices may run on different goroutines at once, as long as
// none changes the weights meanwhile.
package models
