// Command train runs the analogloop experiment: train a network in float on
// the host, move it to a simulated analog chip, retrain it with the chip in
// the loop, compare, and export the integer weights. With no flags it
// reproduces the reference run in results/ (MNIST, the BrainScaleS-2
// network, chip 1).
package main
