package mnist

import (
	"github.com/analogloop/analogloop/datasets"

	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/datasets/mnist/mnisttest"
)

// Tests on the real MNIST files named by $MNIST_DIR.

func TestRealMNIST(t *testing.T) {
	dir := mnisttest.Dir(t)
	d, err := Load(context.Background(), Options{Dir: dir, NoDownload: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		set   *datasets.Set
		n     int
		first uint8
	}{{"train", d.Train, 60000, 5}, {"test", d.Test, 10000, 7}} {
		s := c.set
		if s.N != c.n || s.Height != 28 || s.Width != 28 || len(s.Samples) != c.n*784 || len(s.Labels) != c.n {
			t.Fatalf("%s: N=%d %dx%d, %d pixels, %d labels; want %d of 28x28", c.name, s.N, s.Height, s.Width, len(s.Samples), len(s.Labels), c.n)
		}
		if s.Labels[0] != c.first {
			t.Errorf("%s: first label %d, want %d", c.name, s.Labels[0], c.first)
		}
		// Every digit holds 8.9%..11.3% of each split in MNIST; a shuffled,
		// truncated or mislabeled copy would drift out of 8%..12%.
		var hist [10]int
		for _, l := range s.Labels {
			hist[l]++
		}
		for digit, k := range hist {
			if k < c.n*8/100 || k > c.n*12/100 {
				t.Errorf("%s: digit %d has %d of %d labels", c.name, digit, k, c.n)
			}
		}
		// Mean intensity is about 33 of 255 (ink on a black background).
		var sum int
		for _, p := range s.Samples {
			sum += int(p)
		}
		if mean := float64(sum) / float64(len(s.Samples)); mean < 30 || mean > 37 {
			t.Errorf("%s: mean pixel %.1f, want about 33", c.name, mean)
		}
	}
}

// decompressTo writes the plain IDX files of src into dst.
func decompressTo(t testing.TB, src, dst string) {
	t.Helper()
	for _, base := range fileNames {
		in := filepath.Join(src, base)
		var r io.Reader
		if f, err := os.Open(in); err == nil {
			defer f.Close()
			r = f
		} else {
			f, err := os.Open(in + ".gz")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if r, err = gzip.NewReader(f); err != nil {
				t.Fatal(err)
			}
		}
		out, err := os.Create(filepath.Join(dst, base))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, r); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRealGzipAndPlainAgree(t *testing.T) {
	dir := mnisttest.Dir(t)
	plain := t.TempDir()
	decompressTo(t, dir, plain)
	a, err := Load(context.Background(), Options{Dir: dir, NoDownload: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(context.Background(), Options{Dir: plain, NoDownload: true, Logger: quiet})
	if err != nil {
		t.Fatalf("plain copy: %v", err)
	}
	if !bytes.Equal(a.Train.Samples, b.Train.Samples) || !bytes.Equal(a.Test.Labels, b.Test.Labels) {
		t.Error("gzipped and plain copies load different data")
	}
	// Labels gzipped by us (not byte-identical to the original .gz) next to
	// plain images verify too: the hash is of the contents. (Only the small
	// files: recompressing the images is slow under -race.)
	for _, base := range []string{trainLabels, testLabels} {
		p := filepath.Join(plain, base)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".gz", gz(t, raw), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(context.Background(), Options{Dir: plain, NoDownload: true, Logger: quiet})
	if err != nil {
		t.Fatalf("recompressed labels: %v", err)
	}
	if !bytes.Equal(a.Train.Labels, c.Train.Labels) {
		t.Error("recompressed labels load different data")
	}
}

func TestRealOneByteChanged(t *testing.T) {
	dir := mnisttest.Dir(t)
	cp := t.TempDir()
	decompressTo(t, dir, cp)
	p := filepath.Join(cp, testImages)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[16+5000]++ // one pixel: the file stays structurally valid
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(context.Background(), Options{Dir: cp, NoDownload: true, Logger: quiet})
	if err == nil {
		t.Fatal("a changed pixel passed verification")
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != testImages || !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte: SHA-256") {
		t.Errorf("error does not name the file: %v", err)
	}
	// The structure is fine, so without verification it loads.
	if _, err := Load(context.Background(), Options{Dir: cp, NoDownload: true, NoVerify: true, Logger: quiet}); err != nil {
		t.Errorf("NoVerify: %v", err)
	}
}

// Fashion-MNIST from Debian's dataset-fashion-mnist, when installed.
func TestRealFashionMNIST(t *testing.T) {
	const dir = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("Debian's dataset-fashion-mnist is not installed")
	}
	d, err := Load(context.Background(), Options{Dataset: "fashion-mnist", Dir: dir, NoDownload: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// Fashion-MNIST is balanced: exactly 6000 and 1000 per class.
	for _, c := range []struct {
		set *datasets.Set
		per int
	}{{d.Train, 6000}, {d.Test, 1000}} {
		var hist [10]int
		for _, l := range c.set.Labels {
			hist[l]++
		}
		for class, k := range hist {
			if k != c.per {
				t.Errorf("class %d: %d items, want %d", class, k, c.per)
			}
		}
	}
	// Its files are not MNIST's, and the error says what they are.
	_, err = Load(context.Background(), Options{Dir: dir, NoDownload: true, Logger: quiet})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "it is fashion-mnist's train-images-idx3-ubyte") {
		t.Errorf("Fashion-MNIST loaded as MNIST: %v", err)
	}
}

// BenchmarkLoadTrain loads, validates and SHA-256-verifies the full MNIST
// training set from $MNIST_DIR.
func BenchmarkLoadTrain(b *testing.B) {
	dir := mnisttest.Dir(b)
	ds := knownDatasets["mnist"]
	var size int64
	for b.Loop() {
		files, names, err := readAll(context.Background(), dir, []string{trainImages, trainLabels}, nil, ds.sha256, ds.name)
		if err != nil {
			b.Fatal(err)
		}
		s, err := makeSet(files[0], files[1], names[0], names[1])
		if err != nil || s.N != 60000 {
			b.Fatal(err)
		}
		size = files[0].Size + files[1].Size
	}
	b.SetBytes(size)
}
