// Package study compares ways of getting one network onto analog chips
// that differ: it trains every strategy from the same float network,
// evaluates each on its own chip (trials of fresh noise) and on K chips
// no strategy ever trained on, estimates the chip time each cost
// (chiptime), sweeps the magnitude of the fixed-pattern deviations, and
// writes the table, two plots, results.json, results.md, the own chip's
// calibration file and every strategy's export. cmd/study runs it;
// docs/study.md describes the design.
//
// Strategies (the table's rows):
//
//   - float: the float network moved to the chip without retraining;
//   - calibrated-columns and calibrated: the float network through digital
//     calibration (calib.Corrected), every chip it runs on characterised
//     first (columns only; columns and weights);
//   - hil: retrained with the own chip in the loop, exactly as cmd/train
//     does (same phases, same streams of draws, same weights);
//   - twin-hil: trained on the own chip's digital twin (calib.Twin), then a
//     few epochs with the own chip in the loop;
//   - va: variation-aware training: a fresh random chip, drawn from the chip
//     configuration, for every batch (train.EpochOn); no chip;
//   - va-hil: va, then a few epochs with the own chip in the loop;
//   - multi: several chips in the loop, a different one every batch.
//
// Every draw comes from the configuration's seed: the float network's
// initial weights, every shuffle, shift and noise key, the random chips of
// variation-aware training (whose seeds all have the top bit set, so no
// unseen chip is among them) and the characterisations' noise. The study
// keeps every finished stage in StateDir, so that an interrupted study
// continues where it stopped and ends with the numbers of an uninterrupted
// one.
package study
