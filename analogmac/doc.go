// Package analogmac is the "hardware" of hardware-in-the-loop training: the
// analog vector-matrix multiply of BrainScaleS-2 in ANN mode, simulated
// faithfully enough that a network trained in software loses accuracy on it
// and that training with it in the loop has something to compensate
// (docs/background.md §1 holds the facts and their sources), and the
// contract any device, simulated, remote or real, implements.
//
// # The device contract
//
// A Device is used in two steps, as a chip is. Program writes a weight
// matrix onto the array (a Matrix: Rows x Cols signed 6-bit weights, the
// number of sends, the placement); the Program it returns then runs any
// number of input batches through those weights. A chip writes its synapses
// once and a remote chip receives the weights once, until they change: a
// caller programs again only when the weights differ from what the device
// holds (layers.Kernel does exactly that).
//
//   - Context. Program and Run take a context and return its error when it
//     ends first; a device that waits (a remote one) must honour it.
//   - Close. Device.Close releases the device and every program on it;
//     Program.Close frees one program. Both are idempotent; later calls
//     fail with ErrClosed.
//   - Errors are values. ErrInvalid (with an *ArgError naming the argument)
//     for anything out of range, which a retry cannot fix; ErrUnavailable
//     and ErrBusy for a device that cannot serve now; ErrClosed. Wrappers
//     keep them reachable through errors.Is. Nothing is clipped silently:
//     Check and CheckRun validate every argument, and every device calls
//     them.
//   - Concurrency. A Device's methods and a Program's methods may be called
//     from several goroutines at once; a device may serialise what it
//     cannot overlap (the simulated devices serialise the runs of one
//     program and run different programs in parallel). Within one call a
//     simulated device uses up to GOMAXPROCS goroutines without changing its
//     results.
//   - Noise. Every Run takes a noise key. On a simulated device the output
//     is a pure function of the programmed matrix, the inputs and the key:
//     the same key reproduces the same trial-to-trial noise in any process,
//     on any number of goroutines, and after any restart, and different
//     keys draw independent noise. This is what makes training reproducible
//     across processes and lets a retried remote request be answered
//     identically. Callers draw keys from a NoiseKeys sequence seeded by
//     their run's seed, one per Run in call order. A physical chip ignores
//     the key: its noise is real.
//   - Composition. A wrapper that implements Device around another device
//     (Counter counts calls; a correcting or forwarding device does the
//     same) is used exactly like any device: the layers never know.
//   - Description. A device that can describe its configuration as data
//     implements Describer; Describe returns a Spec, which New turns back
//     into the same device. Results files record Specs, and a remote chip
//     describes the chip it reaches.
//   - Chains. A device for which a call is expensive (a remote one) may
//     implement Chainer: RunChain runs several programs one after another
//     in one call, each on the previous one's outputs through ConvertReLU,
//     the converting ReLU between two analog layers, with the same outputs
//     as separate runs with the same keys. layers.Runner uses it for every
//     sequence of analog layers joined by converting ReLUs; the simulated
//     devices do not implement it, as a call costs them nothing.
//
// MatMul programs, runs once and frees: a one-off product.
//
// # Data path
//
// Inputs are 5-bit unsigned (0..InputMax), weights signed 6-bit
// (-WeightMax..WeightMax), each input vector is sent `sends` times in one
// integration, and the outputs are int8. Like the chip, a device cuts the
// matrix into tiles (Tiles) of at most BlockRows = 128 input rows by
// BlockCols = 256 output columns; one run of the chip handles 128 x
// ArrayCols = 128 x 512, its two halves side by side. Each row block is
// digitised on its own, as floor(gain * sends * x.w) clamped to -128..127,
// and the row blocks' results are added digitally and clamped again, as
// hxtorch and grenade do. Float32 products are exact here: 5-bit x 6-bit
// products summed over 128 rows stay below 2^24.
//
// # Placement
//
// A Placement says where a layer's tiles sit on the synapse array: tile row
// r uses physical row Placement.Row + r, the j-th column block starts at
// physical column (Placement.Column + 256 j) mod 512. Ideal and Mock ignore
// it; on a Chip it decides which column and synapse deviations the layer
// meets, so moving a layer changes its outputs as on the real chip.
//
// # Devices
//
//   - Ideal is the exact integer data path, without noise: the reference,
//     and what a network trained in software assumes.
//   - Mock is hxtorch's software model: Ideal plus fresh Gaussian noise
//     (NoiseStd, 1.6 LSB by default) on every block output before the
//     floor. It has no fixed pattern; it is here for comparison and for
//     pre-training as hxtorch does.
//   - Chip is the simulator. Per tile it computes
//     v = g_c * gain * sends * sum_r x_r w_rc (1 + m_rc) + o_c + noise,
//     saturates v smoothly beyond the column's own linear range L_c (the
//     identity up to L_c, then L_c + d/(1+d/K) with d = |v| - L_c), floors
//     and clamps it to -128..127, and adds the row blocks digitally. The
//     trial noise goes in before the saturation: it arises on the membrane
//     during integration, so the readout squeezes it with the signal.
//
// A device's configuration is data: a Spec names its kind and parameters,
// Preset returns the named defaults ("ideal", "mock", "chip" with a chip
// seed), New builds the device a Spec describes, and NewDevice(kind, chip)
// is the one-line way for command-line flags.
//
// # Fixed pattern and trial noise
//
// A real chip has two kinds of error. The fixed pattern stays the same from
// run to run: each physical column has its own gain g_c, offset o_c (added
// to every block it digitises) and linear range L_c, and each physical
// synapse its own weight mismatch m, with separate excitatory and
// inhibitory synapses (the weight's sign picks one of the pair of rows the
// chip uses per input). The trial-to-trial noise is fresh on every run and
// block. Their magnitudes are the named, documented fields of ChipConfig,
// with their sources; DefaultChipConfig makes the fixed pattern larger than
// the trial noise, as measurements of the chip report ("systematic errors
// dominate"). Training in the loop can learn to compensate the fixed
// pattern, not the noise.
//
// # Seeds and determinism
//
// A chip is identified by its chip seed: NewChip draws the whole physical
// array's fixed pattern (512 columns, 2 x 128 x 512 synapses) once from
// that seed alone, in a fixed documented order, so the same seed gives the
// same chip forever; testdata/chip_seed1.golden fails any change that would
// give users of a seed another chip. A run's noise comes from its key:
// every chunk of 8 batch rows draws its noise from a stream derived from
// the key and the chunk's index, so results are the same whatever the
// number of goroutines or GOMAXPROCS.
//
// # Characterisation
//
// Characterize runs the experiment behind the published characterisation
// figure on any device: 127 columns holding the weights -63..63 (the same
// in all 128 rows), constant inputs 0, 3 and 7, 30 runs each, 2 sends (so
// that input 7 reaches into saturation). It measures the parameters the way
// hxtorch measures a chip (Parameters.Methods says how): the gain (slope
// of the mean output against the ideal product over the linear points),
// the trial-to-trial noise (mean over columns of the per-column std over
// repeats) and the fixed-pattern spread (std over columns of the per-column
// mean deviation from the fitted line). The command cmd/characterize writes
// its CSV, PNG and JSON; package plots draws the figure, so that this
// package imports no plotting.
//
// # Speed
//
// The Chip sits in every forward pass of training. Programming prepares
// the weights once (converted to float32, the chip's synapse mismatch
// folded in, the per-column parameters gathered), and an Update prepares
// only the weights that changed. A run goes through the batch in groups of
// noise chunks on the goroutines of internal/par: the group's products for
// every row block (internal/sgemm, straight from the uint8 inputs, with the
// float32 arithmetic of gonum's Gemm bit for bit, so the chip's sums are
// what they always were), then, chunk by chunk while the sums are in the
// cache, the noise (SplitMix64 and the Box-Muller transform, counter
// based, in float32; on AVX-512 32 numbers at a time, the same numbers bit
// for bit) and the digitisation (on AVX-512 eight outputs at a time, the
// scalar loops' float64 arithmetic operation by operation). Runs allocate
// nothing. With the build tag purego the plain Go loops run, with the same
// outputs. The products' sums are what they were before these
// optimisations (a copy of the old engine in the tests checks the whole
// data path against today's noise). BenchmarkMatMul compares the devices;
// BenchmarkChipOverIdeal times the Chip against Ideal on the same product
// in turn.
package analogmac
