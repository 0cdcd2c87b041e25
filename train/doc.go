// Package train runs analogloop's experiment: train a network in float on
// the host, evaluate it in float, on the ideal integer device and moved to
// the device in the loop without retraining; retrain it with that device in
// the loop (forward on the device, gradients on the host); evaluate the
// result on its device, on a device it has never seen and on the ideal
// device; export both networks' integer weights.
//
// The library speaks Go: a Config holds the hyper-parameters as data and
// Validate names the fields it refuses (*FieldError); the data and the
// devices are arguments of Run (Options), never taken from flags or the
// environment. Callers can tell failures apart with errors.Is:
// ErrInvalidConfig, ErrNonFinite (training diverged), ErrInterrupted (the
// context ended; the checkpoint holds everything to resume),
// ErrDamagedCheckpoint, ErrMismatch (a resume on other data, devices or
// code).
//
// Every random draw comes from the run's seed: weights, and for each phase,
// epoch and batch the shuffling, the augmentation shifts and the device's
// noise keys. A checkpoint is written after every epoch and when a run is
// interrupted; since the draws of a batch depend only on its position, a
// resumed run ends with exactly the results of an uninterrupted one.
// Evaluations on a noisy device are repeated over trials of fresh noise and
// reported as mean and standard deviation; trials may run concurrently
// (Options.Parallel) with the same numbers as serially.
package train
