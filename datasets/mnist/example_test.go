package mnist_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/analogloop/analogloop/datasets/mnist"
)

// writeIDX writes an IDX file of unsigned bytes: the magic, the dimensions,
// then the data.
func writeIDX(path string, magic uint32, dims []uint32, data []byte) error {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return os.WriteFile(path, append(b, data...), 0o644)
}

// Loading a tiny custom dataset: two training images and one test image.
// NoVerify is needed because the data is not the original MNIST.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "mnist-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	pixels := func(n int) []byte {
		p := make([]byte, n*28*28)
		for i := range p {
			p[i] = byte(i % 251)
		}
		return p
	}
	for _, f := range []struct {
		name  string
		magic uint32
		dims  []uint32
		data  []byte
	}{
		{"train-images-idx3-ubyte", mnist.MagicImages, []uint32{2, 28, 28}, pixels(2)},
		{"train-labels-idx1-ubyte", mnist.MagicLabels, []uint32{2}, []byte{5, 0}},
		{"t10k-images-idx3-ubyte", mnist.MagicImages, []uint32{1, 28, 28}, pixels(1)},
		{"t10k-labels-idx1-ubyte", mnist.MagicLabels, []uint32{1}, []byte{7}},
	} {
		if err := writeIDX(filepath.Join(dir, f.name), f.magic, f.dims, f.data); err != nil {
			fmt.Println(err)
			return
		}
	}

	d, err := mnist.Load(context.Background(), mnist.Options{
		Dir:        dir,
		NoVerify:   true,
		NoDownload: true,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("train: %d images of %dx%d, labels %v\n", d.Train.N, d.Train.Height, d.Train.Width, d.Train.Labels)
	fmt.Printf("test: %d image, label %d\n", d.Test.N, d.Test.Labels[0])
	fmt.Println("pixel (0,3) of train image 1:", d.Train.Sample(1)[3]) // (784+3) mod 251

	// Without NoVerify the same files are refused: they are not MNIST's.
	_, err = mnist.Load(context.Background(), mnist.Options{Dir: dir, NoDownload: true, Logger: slog.New(slog.DiscardHandler)})
	fmt.Println("verified load fails:", err != nil)
	// Output:
	// train: 2 images of 28x28, labels [5 0]
	// test: 1 image, label 7
	// pixel (0,3) of train image 1: 34
	// verified load fails: true
}
