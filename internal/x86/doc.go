// Package x86 reports the vector instructions of the processor that the
// assembly kernels of analogloop use, and whether the operating system
// saves their registers. On other architectures, and with the build tag
// purego, it reports none, and every kernel falls back to plain Go with
// the same results.
package x86
