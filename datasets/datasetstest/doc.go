// Package datasetstest makes small synthetic datasets for tests: sets whose
// samples depend on their labels, so that a network can learn them and a
// random network's predictions vary from sample to sample.
package datasetstest
