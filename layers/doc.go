// Package layers holds the Gorgonia ops and layers of analogloop: networks
// whose matrix products run on an analog vector-matrix multiplier (an
// analogmac.Device) while their gradients are computed on the host.
//
// # The analog product
//
// Every Dense and Conv2d layer owns an Analog weight matrix: a float master
// copy in hardware units, kept inside -63..63 after every optimiser step.
// Its forward pass rounds the weights to integers, programs them onto the
// graph's device when they differ from what the device holds, runs the
// 5-bit inputs through them, and returns the device's int8 outputs. Its backward pass is straight-through, as in hxtorch: the
// gradient of the ideal product with the same gain,
//
//	grad_x = (g * gain * sends) W^T      grad_W = x^T (g * gain * sends)
//
// so training sees the chip's real outputs, deviations and noise included,
// and adjusts the weights to them.
//
// # One network, any device
//
// Layers hold parameters only. Where products run is the Exec of the graph
// a layer is applied in: with Device nil the graph runs in float mode (the
// same block structure, gain and clamps in float32, with no rounding
// anywhere: the software baseline); with any analogmac.Device, simulated or
// remote, it runs there. Each graph has its own Exec, and each analog layer
// a Kernel in it that holds the buffers and the programmed weights, so two
// graphs of one network on two devices share nothing but the weights. The
// Exec also carries the context and the noise keys of the current run.
//
// # Layers
//
//   - Dense: a fully connected layer.
//   - Conv2d: im2col onto the array rows (a 10x10 kernel is 100 rows, one
//     row block), with stride and zero padding. Images and activations are
//     channels-last; a patch's rows are ordered (ky, kx, c).
//   - Flatten: a convolution's per-patch rows become one row per sample,
//     patch-major and channel-minor.
//   - ConvertingReLU(shift): clamp(floor(clamp(y, 0, 127) / 2^shift), 0, 31),
//     mapping int8 outputs to the next layer's 5-bit inputs; its backward
//     pass is mask(y > 0) / 2^shift. Float mode leaves out the floor.
//   - Bias: an optional digital per-column offset (rounded on a device).
//   - ScaleImages: 8-bit pixels to 5-bit inputs, pixel >> 3.
//
// CrossEntropy adds a fused softmax cross-entropy loss and Adam is an
// optimiser whose state can be checkpointed.
//
// # Running without Gorgonia's machine
//
// Every layer is a Gorgonia op with its gradient, so networks of these
// layers are Gorgonia graphs. A Runner executes the same layers forward and
// backward on buffers of its own instead, computing exactly what the graph
// computes (models tests the two against each other, bit for bit) without
// the machine's bookkeeping and the conversions between ops: on a device,
// activations stay 5-bit integers from one analog layer to the next, and
// the gradients read them as they are. models.Graph uses a Runner whenever
// it can. On a device that implements analogmac.Chainer (a remote chip), a
// Runner runs each sequence of analog layers joined by ConvertingReLUs as
// one chain, one call for the whole sequence, with the same device outputs
// and noise keys as layer by layer. Products on the host use
// internal/sgemm (gonum's arithmetic, its results bit for bit, much
// faster); elementwise passes have AVX-512 loops with the Go loops' exact
// results.
//
// # Gorgonia traps handled here
//
// Gorgonia merges nodes whose ops hash equally and whose inputs are the
// same: every op hashes the unique id of the layer that owns it, so two
// layers of equal shape stay two nodes with their own noise. No Gorgonia
// Dropout or BatchNorm is used. Graphs are run with Reset before every
// RunAll (see models.Graph), and monitored values are read through G.Read.
// Ops reuse their output buffers between runs: each op instance belongs to
// exactly one node of one graph, and is used by one goroutine at a time.
package layers
