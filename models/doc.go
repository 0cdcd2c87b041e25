// Package models defines networks built from package layers, once, for
// every mode: which device a Network runs on is chosen with Use.
//
// BSS2MNIST is the network run on BrainScaleS-2 for MNIST (Weis et al.
// 2020; hxtorch's example): 28x28 images zero-padded by 1, Conv2d 1->20
// with a 10x10 kernel and stride 5 (5x5x20 = 500 outputs), ConvertingReLU,
// Dense 500->128, ConvertingReLU, Dense 128->10, no biases. MLP is a small
// 784->128->10 network for quick experiments.
//
// Weights live in hardware units. Init draws them so that each layer's
// outputs spread over about TargetStd LSB (a fifth of the ADC range, three
// standard deviations inside the linear range), and SendsFor picks each
// layer's number of sends from the gain and fan-in so that weights of a
// third of their range get there, as hxtorch does.
//
// A Graph compiles a network into a Gorgonia graph for a fixed batch size,
// with the loss gradients when it is for training. All graphs of a network
// share its parameter tensors.
package models
