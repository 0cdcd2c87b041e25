// Command characterize runs the published characterisation experiment on a
// simulated device: a weight matrix whose 127 columns hold -63..63 (the same
// value in all 128 rows), driven by constant input vectors of 0, 3 and 7,
// each run -repeats times. It writes, to -out,
//
//	characterization.csv  column,weight,input,mean,std per column and input
//	characterization.png  mean +- std output against weight, one line per input
//	parameters.json       the measured gain, trial-to-trial noise and
//	                      fixed-pattern spread, next to the configured values
//
// Usage:
//
//	go run ./cmd/characterize [-out DIR] [-device chip|mock|ideal] [-chip SEED] [-seed SEED] [-repeats N] [-sends N]
//	go run ./cmd/characterize -device remote -remote HOST:PORT [-token-file F] [-tls-ca F] ...
//
// With -device remote it characterises the chip a server of the chip
// protocol serves (cmd/chipd, or a real chip's host; see docs/remote.md).
package main
