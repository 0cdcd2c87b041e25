// Command study compares ways of getting a network onto analog chips:
// direct transfer, digital calibration, in-the-loop training on one chip,
// a fitted digital twin followed by a little chip time, variation-aware
// training without any chip, and several chips in the loop. Each is
// evaluated on its own chip and on chips no strategy saw; a deviation
// sweep asks how large the fixed-pattern deviations must be to lose what
// the published 2020 chip lost. With no flags it reproduces
// results/study/ (MNIST, chip 1, 10 unseen chips).
package main
