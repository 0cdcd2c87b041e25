// Package train runs analogloop's experiment: train a network in float on
// the host, evaluate it in float, on the ideal integer device and moved to a
// simulated chip without retraining; retrain it with the chip in the loop
// (forward on the chip, gradients on the host); evaluate the result on its
// chip, on a chip it has never seen and on the ideal device; export both
// networks' integer weights.
//
// Every random draw comes from the run's seed: weights, and for each phase,
// epoch and batch the shuffling, the augmentation shifts and the device's
// trial-to-trial noise. A checkpoint is written after every epoch and when a
// run is interrupted; since the draws of a batch depend only on its
// position, a resumed run ends with exactly the results of an uninterrupted
// one. Chip evaluations are repeated over trials of fresh noise and reported
// as mean and standard deviation.
package train
