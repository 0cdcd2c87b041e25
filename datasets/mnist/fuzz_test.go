package mnist

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

// FuzzParseIDX feeds arbitrary bytes to the parser, both through the gzip
// sniffing entry point and straight to the stream parser. The seed corpus is
// in testdata/fuzz/FuzzParseIDX. It asserts: no panic; every error is a
// format error naming the file; payload buffers never exceed a fixed
// multiple of the bytes the stream actually yielded (so a lying header
// cannot make the parser allocate); and a successful parse is consistent
// with its input.
func FuzzParseIDX(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, sniff := range []bool{true, false} {
			var st parseStats
			var x *IDX
			var err error
			if sniff {
				x, err = parseIDX(bytes.NewReader(in), "fuzz", 0, 0, &st)
			} else {
				x, err = parseStream(bytes.NewReader(in), "fuzz", 0, 0, &st)
			}
			if st.allocated > 4*st.read+firstChunk {
				t.Fatalf("sniff=%v: allocated %d bytes after reading %d", sniff, st.allocated, st.read)
			}
			isGzip := len(in) >= 2 && in[0] == 0x1f && in[1] == 0x8b
			if (!sniff || !isGzip) && st.read > int64(len(in)) {
				t.Fatalf("sniff=%v: read %d bytes from a %d-byte input", sniff, st.read, len(in))
			}
			if err != nil {
				var fe *FileError
				if !errors.As(err, &fe) || fe.File != "fuzz" || !errors.Is(err, ErrFormat) {
					t.Fatalf("sniff=%v: error %q (%T) is not a format *FileError naming the file", sniff, err, err)
				}
				continue
			}
			n := 1
			for _, d := range x.Dims {
				n *= d
			}
			hlen := 4 + 4*len(x.Dims)
			if len(x.Data) != n || x.Size != int64(hlen+n) || x.Size != st.read {
				t.Fatalf("sniff=%v: dims %v, %d data bytes, size %d, read %d", sniff, x.Dims, len(x.Data), x.Size, st.read)
			}
			if x.Magic == MagicLabels {
				for i, l := range x.Data {
					if l > 9 {
						t.Fatalf("label %d at %d accepted", l, i)
					}
				}
			}
			if !sniff || !isGzip {
				if x.Size != int64(len(in)) || x.SHA256 != sha256.Sum256(in) {
					t.Fatalf("sniff=%v: plain input of %d bytes parsed as size %d or hashed wrong", sniff, len(in), x.Size)
				}
				if !bytes.Equal(x.Data, in[hlen:]) {
					t.Fatalf("payload differs from the input")
				}
			}
		}
	})
}
