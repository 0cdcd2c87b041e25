// Package par runs the parts of one computation on a fixed pool of helper
// goroutines, without allocating: the hot loops of analogloop (device
// products, host gradients) split their work dozens of times per training
// step, and starting goroutines for each split costs more in scheduling,
// allocation and garbage than the small products gain.
//
// Results never depend on the pool: a Body computes part i the same way
// whichever goroutine runs it and in whatever order the parts run, so
// callers stay deterministic across GOMAXPROCS.
package par
