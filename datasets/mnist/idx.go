package mnist

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/analogloop/analogloop/internal/inputfile"
)

// Magic numbers of the two IDX kinds this package reads. The four header
// bytes are 0, 0, a type code (0x08 = unsigned byte) and the number of
// dimensions.
const (
	MagicImages = 0x00000803 // 2051: unsigned bytes, 3 dimensions (N, rows, cols)
	MagicLabels = 0x00000801 // 2049: unsigned bytes, 1 dimension (N)
)

// Limits on what a header may claim. They keep size arithmetic far from
// overflow; MNIST-like data sits orders of magnitude below them.
const (
	maxSide    = 1 << 12        // rows and cols
	maxPayload = 1<<31 - 1      // bytes after the header
	firstChunk = 1 << 16        // first buffer size when the stream length is unknown
	maxExcess  = int64(1 << 30) // how far trailing garbage is counted before giving up
)

// Sentinel kinds, reachable with errors.Is through a *FileError.
var (
	ErrFormat   = errors.New("invalid IDX data")
	ErrChecksum = errors.New("SHA-256 mismatch")
	ErrNotFound = errors.New("dataset files not found")
)

// FileError is a problem with one file. Its message starts with the file's
// base name and says what was expected and what was found.
type FileError struct {
	File string // base name
	Kind error  // ErrFormat or ErrChecksum
	Msg  string
}

func (e *FileError) Error() string { return e.File + ": " + e.Msg }
func (e *FileError) Unwrap() error { return e.Kind }

func formatErr(name, format string, args ...any) error {
	return &FileError{File: filepath.Base(name), Kind: ErrFormat, Msg: fmt.Sprintf(format, args...)}
}

// IDX is one parsed IDX file.
type IDX struct {
	Magic  uint32   // MagicImages or MagicLabels
	Dims   []int    // [N, rows, cols] for images, [N] for labels
	Data   []uint8  // the payload after the header, row-major
	Size   int64    // decompressed size of the whole file, header included
	SHA256 [32]byte // of the decompressed file, header included
}

// N is the number of items (images or labels).
func (x *IDX) N() int { return x.Dims[0] }

// parseStats lets tests check the allocation bound.
type parseStats struct {
	read      int64 // decompressed bytes the stream yielded
	allocated int64 // bytes of payload buffers made
}

// ReadIDX reads and validates one IDX file, gzipped or plain.
func ReadIDX(path string) (*IDX, error) {
	f, _, err := inputfile.Open(path, MaxFileBytes)
	if err != nil {
		return nil, &FileError{File: filepath.Base(path), Kind: ErrFormat, Msg: err.Error()}
	}
	defer f.Close()
	return parseIDX(f, filepath.Base(path), 0, sizeHint(f), nil)
}

// maxDeflateRatio bounds how much deflate can expand its input.
const maxDeflateRatio = 1032

// sizeHint returns an upper bound on the decompressed size of f taken from
// the file itself (its size, or for gzip the length in its trailer capped
// by the most deflate can expand), so a parse can allocate once instead of
// growing; 0 when unknown. It cannot make a lying header cost more than a
// fixed multiple of the real file.
func sizeHint(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	size := fi.Size()
	var b [4]byte
	if _, err := f.ReadAt(b[:2], 0); err != nil || b[0] != 0x1f || b[1] != 0x8b {
		return size
	}
	if size < 18 {
		return 0
	}
	if _, err := f.ReadAt(b[:], size-4); err != nil {
		return 0
	}
	// ISIZE is the last member's length mod 2^32: a hint, not a promise.
	return min(int64(binary.LittleEndian.Uint32(b[:])), maxDeflateRatio*size)
}

// ParseIDX reads and validates one IDX stream of images or labels, gzipped
// (detected by its magic bytes, not by the name) or plain. name is used in
// errors only. It checks the magic number, the dimensions, that the stream
// holds exactly the bytes the header promises and, for labels, that each is
// in 0..9. Memory grows with the bytes actually read, never with what the
// header claims.
func ParseIDX(r io.Reader, name string) (*IDX, error) {
	return parseIDX(r, name, 0, 0, nil)
}

// ParseImages is ParseIDX that also requires an images file.
func ParseImages(r io.Reader, name string) (*IDX, error) {
	return parseIDX(r, name, MagicImages, 0, nil)
}

// ParseLabels is ParseIDX that also requires a labels file.
func ParseLabels(r io.Reader, name string) (*IDX, error) {
	return parseIDX(r, name, MagicLabels, 0, nil)
}

// parseIDX parses r, requiring magic want unless it is 0. hint, when not 0,
// is a bound from sizeHint on the decompressed size; st, when not nil,
// receives statistics.
func parseIDX(r io.Reader, name string, want uint32, hint int64, st *parseStats) (*IDX, error) {
	br := bufio.NewReaderSize(r, 1<<18)
	var src io.Reader = br
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, formatErr(name, "looks gzipped but the gzip header is bad: %v", err)
		}
		defer zr.Close()
		src = zr
	}
	return parseStream(src, name, want, hint, st)
}

func kindName(magic uint32) string {
	switch magic {
	case MagicImages:
		return "images"
	case MagicLabels:
		return "labels"
	}
	return "images or labels"
}

// parseStream parses a decompressed IDX stream.
func parseStream(r io.Reader, name string, want uint32, hint int64, st *parseStats) (*IDX, error) {
	if st == nil {
		st = new(parseStats)
	}
	h := sha256.New()
	var hdr [16]byte
	k, err := io.ReadFull(r, hdr[:4])
	st.read += int64(k)
	if err != nil {
		return nil, headerErr(name, want, k, 4, err)
	}
	magic := binary.BigEndian.Uint32(hdr[:4])
	wantText := "2051 (images) or 2049 (labels)"
	if want != 0 {
		wantText = fmt.Sprintf("%d (%s)", want, kindName(want))
	}
	if (magic != MagicImages && magic != MagicLabels) || (want != 0 && magic != want) {
		return nil, formatErr(name, "bad magic number: expected %s, found %d (bytes % x)", wantText, magic, hdr[:4])
	}
	hlen := 8
	if magic == MagicImages {
		hlen = 16
	}
	k, err = io.ReadFull(r, hdr[4:hlen])
	st.read += int64(k)
	if err != nil {
		return nil, headerErr(name, magic, 4+k, hlen, err)
	}
	h.Write(hdr[:hlen])

	x := &IDX{Magic: magic}
	n := int64(binary.BigEndian.Uint32(hdr[4:8]))
	if n == 0 {
		return nil, formatErr(name, "header says 0 %s: expected at least 1", kindName(magic))
	}
	size := n
	promise := fmt.Sprintf("%d labels", n)
	if magic == MagicImages {
		rows := int64(binary.BigEndian.Uint32(hdr[8:12]))
		cols := int64(binary.BigEndian.Uint32(hdr[12:16]))
		if rows < 1 || rows > maxSide || cols < 1 || cols > maxSide {
			return nil, formatErr(name, "bad image size %dx%d: expected rows and cols in 1..%d", rows, cols, maxSide)
		}
		size = n * rows * cols
		x.Dims = []int{int(n), int(rows), int(cols)}
		promise = fmt.Sprintf("%d images of %dx%d", n, rows, cols)
	} else {
		x.Dims = []int{int(n)}
	}
	if size > maxPayload {
		return nil, formatErr(name, "header promises %s (%d bytes): expected at most %d bytes of data", promise, int64(hlen)+size, maxPayload)
	}

	// Grow the buffer as data arrives (doubling), so a header that lies
	// about its count costs at most a small multiple of the real input.
	// A hint from the file's own size lets a real file skip the growing.
	buf := make([]byte, min(size, max(firstChunk, hint-int64(hlen))))
	st.allocated += int64(len(buf))
	got := 0
	for {
		k, err := io.ReadFull(r, buf[got:])
		h.Write(buf[got : got+k])
		got += k
		st.read += int64(k)
		if err != nil {
			held := int64(hlen + got)
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, formatErr(name, "truncated: header promises %s (%d bytes), file holds %d", promise, int64(hlen)+size, held)
			}
			return nil, formatErr(name, "read failed after %d of %d bytes: %v", held, int64(hlen)+size, err)
		}
		if int64(got) == size {
			break
		}
		nb := make([]byte, min(size, 2*int64(len(buf))))
		st.allocated += int64(len(nb))
		copy(nb, buf[:got])
		buf = nb
	}

	// Read to EOF: catches trailing garbage and lets gzip check its CRC.
	var one [1]byte
	k, err = io.ReadFull(r, one[:])
	st.read += int64(k)
	if k == 1 {
		extra, cerr := io.Copy(io.Discard, io.LimitReader(r, maxExcess))
		st.read += extra
		held := fmt.Sprintf("%d", int64(hlen)+size+1+extra)
		if extra == maxExcess || cerr != nil {
			held = "more than " + held
		}
		return nil, formatErr(name, "trailing data: header promises %s (%d bytes), file holds %s", promise, int64(hlen)+size, held)
	}
	if err != io.EOF {
		return nil, formatErr(name, "read failed at the end of the data: %v", err)
	}

	if magic == MagicLabels {
		for i, l := range buf {
			if l > 9 {
				return nil, formatErr(name, "label %d at index %d: expected 0..9", l, i)
			}
		}
	}
	x.Data = buf
	x.Size = int64(hlen) + size
	h.Sum(x.SHA256[:0])
	return x, nil
}

func headerErr(name string, magic uint32, got, need int, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		kind := "an IDX"
		if magic != 0 {
			kind = "an " + kindName(magic)
		}
		return formatErr(name, "truncated: %s header needs %d bytes, file holds %d", kind, need, got)
	}
	return formatErr(name, "read failed in the header after %d bytes: %v", got, err)
}
