// Package analogmac is the "hardware" of hardware-in-the-loop training: the
// analog vector-matrix multiply of BrainScaleS-2 in ANN mode, simulated
// faithfully enough that a network trained in software loses accuracy on it
// and that training with it in the loop has something to compensate
// (docs/background.md §1 holds the facts and their sources).
//
// # Data path
//
// A Device runs a batch of 5-bit unsigned input vectors (0..InputMax)
// through a signed 6-bit weight matrix (-WeightMax..WeightMax), each vector
// sent `sends` times in one integration, and returns int8 outputs. Inputs,
// weights or sends out of range and shapes that do not match are errors:
// nothing is clipped silently (Check).
//
// Like the chip, a device cuts the matrix into tiles (Tiles) of at most
// BlockRows = 128 input rows by BlockCols = 256 output columns; one run of
// the chip handles 128 x ArrayCols = 128 x 512, its two halves side by side.
// Each row block is digitised on its own, as floor(gain * sends * x.w)
// clamped to -128..127, and the row blocks' results are added digitally and
// clamped again, as hxtorch and grenade do. Float32 products are exact here:
// 5-bit x 6-bit products summed over 128 rows stay below 2^24.
//
// # Placement
//
// A Placement says where a layer's tiles sit on the synapse array: tile row
// r uses physical row Placement.Row + r, the j-th column block starts at
// physical column (Placement.Column + 256 j) mod 512. Ideal and Mock ignore
// it; on a Chip it decides which column and synapse deviations the layer
// meets, so moving a layer changes its outputs as on the real chip. Record
// the placement with the layer.
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
// NewDevice builds any of them by name ("ideal", "mock", "chip") for
// command-line flags; Describe reports a device's kind and configuration
// for results files.
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
// give users of a seed another chip. The trial noise comes from a separate
// noise seed (SeedNoise restarts it). Each call draws one seed from the
// noise stream and every chunk of 8 batch rows draws its noise from a
// stream derived from that seed and the chunk's index, so results are the
// same whatever the number of goroutines or GOMAXPROCS. Calls on one device
// are serialised; the noise stream is consumed in call order.
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
// its CSV, PNG and JSON.
//
// # Speed
//
// The Chip sits in every forward pass of training. All devices share one
// engine: inputs and weights are converted to float32 once per call into
// reused buffers, each row block is one gonum blas32.Gemm, and the
// digitisation runs over chunks on GOMAXPROCS goroutines. The Chip folds
// its synapse mismatch into the weights (one multiply per weight per call)
// and draws its noise with a ziggurat fed by SplitMix64; BenchmarkMatMul
// compares the devices.
package analogmac
