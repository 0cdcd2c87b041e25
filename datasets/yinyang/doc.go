// Package yinyang generates the Yin-Yang dataset (Kriener, Göltz and
// Petrovici 2021, arXiv:2102.08211), the small standard task of the
// BrainScaleS-2 tutorials: points of a yin-yang figure, three classes
// (yin, yang and the two dots). Nothing is downloaded: every split is
// generated from a seed, the same seed always giving the same points.
//
// The generator follows the definition in the dataset's reference
// repository (github.com/lkriener/yin_yang_data_set, dataset.py and
// README.md):
//
//   - the figure has outer radius RBig = 0.5 and dot radius RSmall = 0.1,
//     centred at (0.5, 0.5); the dots sit at (0.25, 0.5) and (0.75, 0.5);
//   - a point is drawn uniformly in the square [0, 1)^2 and redrawn when it
//     falls outside the big circle;
//   - classes are balanced by rejection sampling: each sample's class is
//     drawn first, uniformly from the three, and points are redrawn until
//     one of that class comes up, so every class has a third of the samples
//     in expectation (not exactly);
//   - labels are numbered as the reference numbers them (Class);
//   - each sample is (x, y, 1-x, 1-y): the mirrored pair gives every point
//     the same total input, which the authors chose so that networks
//     without biases (such as ours, or neuron models without an intrinsic
//     bias) can still learn the task;
//   - the splits have the reference's sizes, 5000 training, 1000
//     validation and 1000 test samples, and its seeds 42, 41 and 40.
//
// The random numbers are Go's (PCG), not NumPy's, so the seeds give other
// points than the reference's: the same distribution, not the same
// samples.
//
// Samples are 1 x 4 x 1 bytes: each coordinate c in [0, 1) becomes
// floor(256 c), which a network reads as the 5-bit input v >> 3 =
// floor(32 c), and each mirrored value is 255 minus its coordinate's, so
// that every pair sums to exactly 31 in 5-bit inputs.
package yinyang
