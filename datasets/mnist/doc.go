// Package mnist loads MNIST and Fashion-MNIST for the trainer, and refuses
// to hand it anything it has not checked.
//
// # The IDX format
//
// Each split is two IDX files, usually gzipped. An IDX file is a big-endian
// header followed by the data, row-major:
//
//	bytes 0-3   magic: 0, 0, type (0x08 = unsigned byte), number of dimensions
//	bytes 4-7   dimension 0 (the item count N)
//	...         one 4-byte size per further dimension
//	then        the product of all dimensions, one byte each
//
// Images files have magic 2051 (0x00000803) and three dimensions N, rows,
// cols; labels files have magic 2049 (0x00000801) and one dimension N.
// MNIST's files are train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each possibly with .gz;
// Fashion-MNIST uses the same names and layout.
//
// # Validation
//
// Parsing streams the (decompressed) file once, hashing it on the way, and
// checks: the magic number; dimensions (at least one item, 1..4096 rows and
// cols); that the file holds exactly the bytes its header promises, neither
// fewer (truncated) nor more (trailing data); for gzip, the stream's own
// CRC; labels within 0..9. Memory is allocated as data arrives, so a header
// that claims billions of images costs nothing. Load then checks that images
// are 28x28, that each split has as many labels as images and, unless
// Options.NoVerify is set, that the SHA-256 of each file's decompressed
// contents is that of the original file, so gzipped and plain copies of the
// same data both pass. Every error names the file and says what was
// expected and what was found, e.g.
//
//	train-images-idx3-ubyte.gz: truncated: header promises 60000 images of 28x28 (47040016 bytes), file holds 1234
//
// # Where the files come from
//
// With Options.Dir set, Load looks only there. Otherwise it takes the first
// directory that holds all four files (plain preferred over .gz when both
// exist) among:
//
//	mnist:          $MNIST_DIR, ./data/mnist
//	fashion-mnist:  $FASHION_MNIST_DIR, ./data/fashion-mnist,
//	                /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
//
// When none does and Options.NoDownload is false, the missing .gz files are
// downloaded, trying the mirrors in order, into Options.Dir or else the
// first writable of $MNIST_DIR and ./data/<dataset>. Each transfer goes to a
// temporary file in that directory, is parsed and verified, and only then
// renamed to its final name; a broken transfer or wrong bytes leave no file
// behind. When every mirror fails, the error lists the file names and the
// directories searched, so the files can be put there by hand.
package mnist
