package mnist

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	img := idxImages(3, 4, 5, 1)
	lab := idxLabels(0, 9, 3)
	for _, zipped := range []bool{false, true} {
		in := img
		if zipped {
			in = gz(t, img)
		}
		x, err := ParseImages(bytes.NewReader(in), "img")
		if err != nil {
			t.Fatalf("gzip=%v: %v", zipped, err)
		}
		if !slices.Equal(x.Dims, []int{3, 4, 5}) || x.N() != 3 {
			t.Errorf("gzip=%v: dims %v, want [3 4 5]", zipped, x.Dims)
		}
		if !bytes.Equal(x.Data, img[16:]) {
			t.Errorf("gzip=%v: payload differs", zipped)
		}
		if x.Size != int64(len(img)) || x.SHA256 != sha256.Sum256(img) {
			t.Errorf("gzip=%v: size %d / hash %x, want %d / hash of the decompressed file", zipped, x.Size, x.SHA256, len(img))
		}
	}
	x, err := ParseLabels(bytes.NewReader(gz(t, lab)), "lab")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Data, []byte{0, 9, 3}) || x.Magic != MagicLabels {
		t.Errorf("labels %v magic %d", x.Data, x.Magic)
	}
	// ParseIDX takes either kind.
	if x, err := ParseIDX(bytes.NewReader(lab), "lab"); err != nil || x.Magic != MagicLabels {
		t.Errorf("ParseIDX(labels) = %v, %v", x, err)
	}
}

func TestParseErrors(t *testing.T) {
	huge := header(MagicImages, 4_000_000_000, 28, 28)
	big := append(header(MagicImages, 60000, 28, 28), make([]byte, 1234-16)...)
	corruptGz := gz(t, idxLabels(1, 2, 3, 4, 5, 6, 7, 8))
	corruptGz[len(corruptGz)-6] ^= 0xff // inside the CRC-32 trailer
	for _, c := range []struct {
		name   string
		in     []byte
		labels bool
		want   string // the whole message after "<file>: " when exact, else a substring
		exact  bool
	}{
		{"empty", nil, false, "truncated: an images header needs 4 bytes, file holds 0", true},
		{"short header", header(MagicImages, 1, 2, 2)[:10], false, "truncated: an images header needs 16 bytes, file holds 10", true},
		{"labels as images", idxLabels(1), false, "bad magic number: expected 2051 (images), found 2049 (bytes 00 00 08 01)", true},
		{"html page", []byte("<!DOCTYPE html><html>"), true, "bad magic number: expected 2049 (labels), found 1008813135 (bytes 3c 21 44 4f)", true},
		{"issue example", big, false, "truncated: header promises 60000 images of 28x28 (47040016 bytes), file holds 1234", true},
		{"truncated labels", idxLabels(1, 2, 3)[:10], true, "truncated: header promises 3 labels (11 bytes), file holds 10", true},
		{"trailing data", append(idxLabels(1, 2), 0, 0, 0), true, "trailing data: header promises 2 labels (10 bytes), file holds 13", true},
		{"zero images", header(MagicImages, 0, 28, 28), false, "header says 0 images: expected at least 1", true},
		{"zero rows", header(MagicImages, 1, 0, 28), false, "bad image size 0x28: expected rows and cols in 1..4096", true},
		{"huge side", header(MagicImages, 1, 28, 1<<20), false, "bad image size 28x1048576", false},
		{"billions of images", huge, false, "header promises 4000000000 images of 28x28 (3136000000016 bytes): expected at most 2147483647 bytes of data", true},
		{"label out of range", idxLabels(3, 10, 2), true, "label 10 at index 1: expected 0..9", true},
		{"gzip crc", corruptGz, true, "gzip: invalid checksum", false},
		{"gzip truncated", gz(t, idxImages(2, 28, 28, 0))[:100], false, "truncated: header promises 2 images of 28x28 (1584 bytes), file holds", false},
		{"gzip bad header", []byte{0x1f, 0x8b, 0, 0}, false, "looks gzipped but the gzip header is bad", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			parse := ParseImages
			if c.labels {
				parse = ParseLabels
			}
			x, err := parse(bytes.NewReader(c.in), "f.gz")
			if err == nil {
				t.Fatalf("no error, parsed %v", x.Dims)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != "f.gz" || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %q (%T) is not a format *FileError naming f.gz", err, err)
			}
			msg := strings.TrimPrefix(err.Error(), "f.gz: ")
			if c.exact && msg != c.want || !c.exact && !strings.Contains(msg, c.want) {
				t.Errorf("error\n %q\nwant\n %q", msg, c.want)
			}
		})
	}
}

// A header that claims far more than the input holds must cost memory in
// proportion to the input only.
func TestParseLyingHeaderAllocation(t *testing.T) {
	// 2,000,000 images of 28x28 is 1.5 GB: under the payload cap, so only
	// the incremental read protects us.
	in := append(header(MagicImages, 2_000_000, 28, 28), make([]byte, 100)...)
	var st parseStats
	_, err := parseIDX(bytes.NewReader(in), "lie", MagicImages, 0, &st)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v, want truncated", err)
	}
	if st.allocated > firstChunk {
		t.Errorf("allocated %d bytes of payload buffers for %d bytes of input", st.allocated, len(in))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		ParseImages(bytes.NewReader(in), "lie")
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 1<<20 {
		t.Errorf("each parse allocated %d bytes for a %d-byte input", per, len(in))
	}
}

// Growth is geometric, so a large valid file costs a bounded multiple of
// its size, not one allocation per chunk.
func TestParseGrowthBound(t *testing.T) {
	img := idxImages(3000, 28, 28, 3) // 2.35 MB, several doublings
	var st parseStats
	x, err := parseIDX(bytes.NewReader(img), "big", MagicImages, 0, &st)
	if err != nil {
		t.Fatal(err)
	}
	if st.read != int64(len(img)) {
		t.Errorf("read %d bytes, file has %d", st.read, len(img))
	}
	if st.allocated > 4*st.read || int64(len(x.Data)) != int64(len(img)-16) {
		t.Errorf("allocated %d for %d bytes read (data %d)", st.allocated, st.read, len(x.Data))
	}
}

func TestSizeHint(t *testing.T) {
	dir := t.TempDir()
	img := idxImages(50, 28, 28, 0)
	zipped := gz(t, img)
	forged := bytes.Clone(zipped)
	copy(forged[len(forged)-4:], []byte{0xff, 0xff, 0xff, 0xff}) // ISIZE says 4 GiB
	for _, c := range []struct {
		name string
		b    []byte
		want int64
	}{
		{"plain", img, int64(len(img))},
		{"gzip", zipped, int64(len(img))},
		{"forged isize", forged, maxDeflateRatio * int64(len(forged))},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := sizeHint(f); got != c.want {
			t.Errorf("%s: hint %d, want %d", c.name, got, c.want)
		}
		f.Close()
		x, err := ReadIDX(p)
		if c.name == "forged isize" {
			if err == nil || !strings.Contains(err.Error(), "gzip") {
				t.Errorf("forged ISIZE accepted: %v", err)
			}
		} else if err != nil || !bytes.Equal(x.Data, img[16:]) {
			t.Errorf("%s: ReadIDX: %v", c.name, err)
		}
	}
}
