// Package mnisttest gives tests the directory of the real MNIST files.
//
// Tests that need real MNIST call Dir. It reads $MNIST_DIR; a relative
// value is taken from the module root (the nearest directory above the
// working directory holding go.mod), so `MNIST_DIR=../shared/mnist go test
// ./...` run from the repository root works for every package, whose tests
// each run in their own directory. When the variable is unset the test is
// skipped on a developer machine and fails when CI=true, so CI cannot pass
// by silently skipping. When it is set but names no MNIST files (a clone
// that is not beside shared/, say) the test fails everywhere: someone asked
// for the real data and would otherwise not notice it was never used.
package mnisttest
