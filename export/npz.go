package export

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/sbinet/npyio/npy"

	"github.com/analogloop/analogloop/analogmac"
)

// The .npz codec. Each array is a .npy file written and read by npyio;
// archive/zip makes the container. npyio v0.6.0 trusts the header it
// reads, so readNPY bounds and checks what npyio would otherwise act on
// blindly (see readNPY).

// MaxNPYHeader bounds the header of a .npy member: numpy's own np.load
// refuses longer headers by default (max_header_size=10000).
const MaxNPYHeader = 10000

// npzTime is the fixed modification time of every member, so that the
// same weights always give the same bytes and the same SHA-256.
var npzTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// array is one int8 matrix of an npz.
type array struct {
	key        string // np.load key; the zip member is key + ".npy"
	rows, cols int
	data       []int8 // rows x cols, row-major
}

// encodeNPZ writes the arrays, in order, as an uncompressed zip (as
// numpy.savez does) of .npy files written by npyio.
func encodeNPZ(arrays []array) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, a := range arrays {
		if len(a.data) != a.rows*a.cols || a.rows < 1 || a.cols < 1 {
			return nil, fmt.Errorf("array %s: %d values for shape (%d, %d)", a.key, len(a.data), a.rows, a.cols)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: a.key + ".npy", Method: zip.Store, Modified: npzTime})
		if err != nil {
			return nil, err
		}
		if err := npy.Write(w, matrixValue(a)); err != nil {
			return nil, fmt.Errorf("array %s: %w", a.key, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// matrixValue returns a's data as a [rows][cols]int8 array value: npyio
// takes the shape of what it writes from the Go type, and writes a flat
// slice as one dimension and a slice of slices not at all, while a nested
// array gives the (rows, cols) C-order int8 array numpy expects.
func matrixValue(a array) any {
	t := reflect.ArrayOf(a.rows, reflect.ArrayOf(a.cols, reflect.TypeFor[int8]()))
	v := reflect.New(t).Elem()
	for r := range a.rows {
		reflect.Copy(v.Index(r), reflect.ValueOf(a.data[r*a.cols:(r+1)*a.cols]))
	}
	return v.Interface()
}

// decodeNPZ reads an npz that must hold exactly the arrays of want (data
// ignored), each an int8 C-order matrix of its shape with values in the
// chip's weight range, and returns their values by key. Errors are
// *fieldError naming the array.
func decodeNPZ(data []byte, want []array) (map[string][]int8, error) {
	bad := func(field, format string, args ...any) error {
		return &fieldError{field: field, msg: fmt.Sprintf(format, args...), kind: ErrTampered}
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, bad("", "not a valid npz (zip) file: %v", err)
	}
	if len(zr.File) > len(want) {
		// Named below when one of them is unknown; a count is enough here
		// to stop before looking at a flood of members.
		for _, f := range zr.File {
			if key, _ := strings.CutSuffix(f.Name, ".npy"); !slices.ContainsFunc(want, func(a array) bool { return a.key == key }) {
				return nil, bad(f.Name, "not an array of the manifest's layers")
			}
		}
		return nil, bad("", "%d members, the manifest's layers have %d arrays", len(zr.File), len(want))
	}
	out := map[string][]int8{}
	for _, f := range zr.File {
		key, ok := strings.CutSuffix(f.Name, ".npy")
		i := slices.IndexFunc(want, func(a array) bool { return a.key == key })
		if !ok || i < 0 {
			return nil, bad(f.Name, "not an array of the manifest's layers")
		}
		if _, dup := out[key]; dup {
			return nil, bad(f.Name, "appears twice")
		}
		a := want[i]
		// Bound the member before reading it: its header says how large it
		// is, and archive/zip checks that claim (and the CRC-32) at its end.
		limit := uint64(a.rows*a.cols) + 12 + MaxNPYHeader
		if f.UncompressedSize64 > limit {
			return nil, bad(f.Name, "%d bytes: an int8 (%d, %d) array needs %d plus a header", f.UncompressedSize64, a.rows, a.cols, a.rows*a.cols)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, bad(f.Name, "%v", err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, int64(limit)+1))
		_ = rc.Close()
		if err != nil {
			return nil, bad(f.Name, "corrupted: %v", err)
		}
		if uint64(len(b)) > limit {
			return nil, bad(f.Name, "longer than its zip header says")
		}
		w, err := readNPY(b, a.rows, a.cols)
		if err != nil {
			return nil, bad(key, "%v", err)
		}
		out[key] = w
	}
	for _, a := range want {
		if _, ok := out[a.key]; !ok {
			return nil, bad(a.key, "missing from the npz")
		}
	}
	return out, nil
}

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// errNPYHeader is a header npyio could not make sense of.
var errNPYHeader = errors.New("malformed .npy header")

// readNPY returns the values of a .npy file that must be an int8 C-order
// (rows, cols) array with values in -WeightMax..WeightMax.
//
// npyio v0.6.0 reads the header length and allocates that many bytes
// before reading them (up to 4 GiB for a version 2.0 file), panics on a
// header without a newline or with its keys in another order, and
// allocates as many elements as the header's shape says, then ignores a
// premature end of the data (repeating the last byte). So readNPY bounds
// the header length itself, turns npyio's panics into errors, checks
// dtype, order and shape against the manifest before any element is
// allocated, and checks that exactly rows*cols data bytes follow.
func readNPY(b []byte, rows, cols int) ([]int8, error) {
	if len(b) < 10 || string(b[:6]) != npyMagic {
		return nil, errors.New(`not a .npy file (no "\x93NUMPY" magic)`)
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2:
		if len(b) < 12 {
			return nil, errors.New("truncated .npy header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf(".npy version %d.%d: want 1.0 or 2.0 (what numpy writes for numeric arrays)", b[6], b[7])
	}
	if hlen > MaxNPYHeader {
		return nil, fmt.Errorf(".npy header of %d bytes: at most %d", hlen, MaxNPYHeader)
	}
	if start+hlen > len(b) {
		return nil, errors.New("truncated .npy header")
	}
	br := bytes.NewReader(b)
	r, err := newNPYReader(br)
	if err != nil {
		return nil, err
	}
	h := r.Header.Descr
	if npy.TypeFrom(h.Type) != reflect.TypeFor[int8]() {
		return nil, fmt.Errorf("dtype %q: want int8 ('|i1')", h.Type)
	}
	if h.Fortran {
		return nil, errors.New("fortran_order True: want False (C order)")
	}
	if len(h.Shape) != 2 || h.Shape[0] != rows || h.Shape[1] != cols {
		return nil, fmt.Errorf("shape %s: want (%d, %d), the layer's (in, out)", shapeString(h.Shape), rows, cols)
	}
	if br.Len() != rows*cols {
		return nil, fmt.Errorf("%d data bytes, shape (%d, %d) needs %d", br.Len(), rows, cols, rows*cols)
	}
	w := make([]int8, rows*cols) // npyio fills a slice of this length and allocates nothing
	if err := r.Read(&w); err != nil {
		return nil, err
	}
	for i, v := range w {
		if v > analogmac.WeightMax || v < -analogmac.WeightMax {
			return nil, fmt.Errorf("weight [%d][%d] = %d: outside the chip's range -%d..%d", i/cols, i%cols, v, analogmac.WeightMax, analogmac.WeightMax)
		}
	}
	return w, nil
}

// newNPYReader parses the header with npyio, turning its panics on
// malformed headers into errNPYHeader.
func newNPYReader(r io.Reader) (rd *npy.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			rd, err = nil, fmt.Errorf("%w (%v)", errNPYHeader, p)
		}
	}()
	rd, err = npy.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNPYHeader, err)
	}
	return rd, nil
}

// shapeString writes a shape as Python does: (2, 3), (6,), ().
func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	if len(s) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
