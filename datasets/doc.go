// Package datasets holds the dataset-neutral types that training, models
// and exports see: a Set is N labelled samples of height x width x channels
// 8-bit values, whatever their origin. Loaders live in subpackages:
// datasets/mnist reads MNIST and Fashion-MNIST from IDX files,
// datasets/yinyang generates the Yin-Yang dataset from a seed.
//
// A network reads a sample value v as the 5-bit chip input v >> 3, so a
// loader maps its data onto 0..255 with that in mind.
package datasets
