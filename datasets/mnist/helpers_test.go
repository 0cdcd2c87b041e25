package mnist

import (
	"github.com/analogloop/analogloop/datasets"

	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// idxImages builds an images file of n rows x cols images whose pixels
// follow a pattern that differs with seed.
func idxImages(n, rows, cols int, seed byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, MagicImages)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, uint32(rows))
	b = binary.BigEndian.AppendUint32(b, uint32(cols))
	for i := range n * rows * cols {
		b = append(b, byte(i*7)+seed)
	}
	return b
}

func idxLabels(labels ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, MagicLabels)
	b = binary.BigEndian.AppendUint32(b, uint32(len(labels)))
	return append(b, labels...)
}

// header builds an images header alone, claiming whatever it is told.
func header(magic, n, rows, cols uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	b = binary.BigEndian.AppendUint32(b, n)
	if magic == MagicImages {
		b = binary.BigEndian.AppendUint32(b, rows)
		b = binary.BigEndian.AppendUint32(b, cols)
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// synthSet is a small 28x28 dataset: base name -> decompressed contents.
type synthSet map[string][]byte

func newSynth(nTrain, nTest int, seed byte) synthSet {
	lab := func(n int) []byte {
		l := make([]byte, n)
		for i := range l {
			l[i] = byte((i + int(seed)) % 10)
		}
		return idxLabels(l...)
	}
	return synthSet{
		trainImages: idxImages(nTrain, 28, 28, seed),
		trainLabels: lab(nTrain),
		testImages:  idxImages(nTest, 28, 28, seed+1),
		testLabels:  lab(nTest),
	}
}

func (s synthSet) sums() map[string]string {
	m := map[string]string{}
	for k, v := range s {
		m[k] = sumHex(v)
	}
	return m
}

// write puts the files into dir, gzipped (name.gz) or plain.
func (s synthSet) write(t testing.TB, dir string, gzipped bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for base, b := range s {
		name := base
		if gzipped {
			name, b = base+".gz", gz(t, b)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkSynth asserts that d holds exactly the synthetic data s.
func checkSynth(t *testing.T, d *datasets.Data, s synthSet) {
	t.Helper()
	for _, c := range []struct {
		set      *datasets.Set
		img, lab string
	}{{d.Train, trainImages, trainLabels}, {d.Test, testImages, testLabels}} {
		if c.set.Height != 28 || c.set.Width != 28 {
			t.Fatalf("%s: size %dx%d, want 28x28", c.img, c.set.Height, c.set.Width)
		}
		if !bytes.Equal(c.set.Samples, s[c.img][16:]) {
			t.Errorf("%s: pixels differ from the file's", c.img)
		}
		if !bytes.Equal(c.set.Labels, s[c.lab][8:]) {
			t.Errorf("%s: labels differ from the file's", c.lab)
		}
		if c.set.N != len(c.set.Labels) {
			t.Errorf("%s: N = %d, %d labels", c.img, c.set.N, len(c.set.Labels))
		}
	}
}

// listDir returns every entry of dir, hidden ones included.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
