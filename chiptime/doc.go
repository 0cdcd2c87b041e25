// Package chiptime estimates how long a BrainScaleS-2 chip in ANN mode
// would be busy with what a device was asked to do, from counts of what
// went through it: the input events, the integrations (one input vector
// through one block of at most 128 rows, both array halves at once) and
// the weights written. The model and every constant live here, in Model
// and Default; docs/chip-timing.md gives their sources and the
// assumptions.
//
// A Meter is a Device that passes every call on and counts; Model.Seconds
// turns its Counts into seconds. The estimate covers the chip's own time:
// not the host, the network to the chip or any queue in front of it.
package chiptime
