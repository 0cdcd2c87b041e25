// Package benchcpu reports a benchmark's process CPU time per operation
// (user and system, over all threads) next to the wall clock: on a machine
// shared with other jobs it measures the work itself much more steadily.
package benchcpu
