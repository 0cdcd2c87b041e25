// Package calib characterises a whole analog array from its outputs,
// fits a model of every physical column (and optionally every synapse),
// keeps it in a versioned calibration file, and builds two devices from
// it: Corrected, digital calibration on the host around a chip, and Twin,
// a digital twin that stands in for the chip.
//
// # Characterisation
//
// Characterize runs a Protocol on any analogmac.Device (simulated, remote
// or real): every run uses the whole 128 x 512 array. Transfer curves
// drive all 128 rows with the same input 0..31 through uniform weights of
// both signs, at a fine setting through the linear range and a coarse one
// deep into saturation; synapse probes drive one row at a time. Per
// column it then fits, from the mean and variance of the outputs only:
//
//   - the offset (mean output at zero input, plus the floor's 0.5),
//   - the gain relative to the nominal one (least squares through the
//     points inside the linear range),
//   - the saturation of each branch (linear range L and headroom H of
//     L + d/(1 + d/H), fitted by least squares on a grid, separately for
//     positive and negative outputs, since measured readouts saturate
//     asymmetrically),
//   - the trial noise (pooled variance over the repeats less the floor's
//     1/12 LSB²),
//   - and with probes, a factor per synapse relative to its column's gain.
//
// The fit never reads a simulated chip's hidden parameters; the package's
// tests compare it with them (docs/calibration.md gives the tolerances)
// by rebuilding them from the chip seed in the test alone. The cost of a
// characterisation in chip calls is counted (chiptime.Meter) and kept in
// the file: with the default protocol, 6 programs, 144 runs, 11,264
// vectors.
//
// # The file
//
// A Calibration is written as JSON (Write, Marshal) and read back with
// Read or Parse, which bound the size, refuse unknown fields, trailing
// data and every value out of range, and name the field at fault.
// docs/calibration.md documents every field.
//
// # Devices
//
// Corrected wraps a chip and corrects each block output on the host:
// back through the column's saturation, minus the offset, over the gain;
// optionally it also divides each weight by its synapse's factor before
// programming. Twin computes the fitted model with Gaussian trial noise
// and needs no chip. Both implement analogmac.Device and Updater, take
// noise keys as the contract asks, and validate their arguments as every
// device does.
package calib
