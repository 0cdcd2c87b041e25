package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/sbinet/npyio/npy"
)

// TestReadNPY covers the header forms numpy writes, then hostile ones:
// each is refused with an error (npyio panics on some, allocates what the
// header says for others) before any element is allocated.
func TestReadNPY(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 0xff}
	v2 := func(dict string, data []byte) []byte {
		b := append([]byte("\x93NUMPY\x02\x00"), binary.LittleEndian.AppendUint32(nil, uint32(len(dict)))...)
		return append(append(b, dict...), data...)
	}
	var npyio bytes.Buffer
	if err := npy.Write(&npyio, matrixValue(array{rows: 2, cols: 3, data: []int8{1, 2, 3, 4, 5, -1}})); err != nil {
		t.Fatal(err)
	}
	ok := map[string][]byte{
		"numpy v1.0":     npyV1(int8Dict(2, 3), data),
		"numpy v2.0":     v2(int8Dict(2, 3)+"\n", data),
		"npyio":          npyio.Bytes(),
		"descr <i1":      npyV1("{'descr': '<i1', 'fortran_order': False, 'shape': (2, 3), }", data),
		"no header pad":  v2("{'descr': '|i1', 'fortran_order': False, 'shape': (2,3), }\n", data),
		"extra newlines": npyV1("{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }\n\n", data),
	}
	for name, b := range ok {
		w, err := readNPY(b, 2, 3)
		if err != nil || fmt.Sprint(w) != "[1 2 3 4 5 -1]" {
			t.Errorf("%s: %v %v", name, w, err)
		}
	}
	huge := v2("{'descr': '|i1', 'fortran_order': False, 'shape': (100000, 100000), }\n", nil)
	bad := []struct {
		name string
		b    []byte
		want string
	}{
		{"1-D", npyV1("{'descr': '|i1', 'fortran_order': False, 'shape': (6,), }", data), "shape (6,): want (2, 3)"},
		{"transposed", npyV1(int8Dict(3, 2), data), "shape (3, 2)"},
		{"uint8", npyV1("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", data), `dtype "|u1"`},
		{"int16", npyV1("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }", append(data, data...)), `dtype "<i2"`},
		{"string dtype", npyV1("{'descr': '|S1', 'fortran_order': False, 'shape': (2, 3), }", data), `dtype "|S1"`},
		{"fortran", npyV1("{'descr': '|i1', 'fortran_order': True, 'shape': (2, 3), }", data), "fortran_order True"},
		{"not a bool", npyV1("{'descr': '|i1', 'fortran_order': 0, 'shape': (2, 3), }", data), "malformed"},
		{"keys reordered (npyio panics)", npyV1("{'shape': (2, 3), 'descr': '|i1', 'fortran_order': False, }", data), "malformed"},
		{"no newline (npyio panics)", v2(int8Dict(2, 3), data), "malformed"},
		{"no closing brace (npyio panics)", npyV1("{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), ", data), "malformed"},
		{"double quotes", npyV1(`{"descr": "|i1", "fortran_order": False, "shape": (2, 3), }`, data), "malformed"},
		{"shape not a number", npyV1("{'descr': '|i1', 'fortran_order': False, 'shape': (2, x), }", data), "malformed"},
		{"negative shape", npyV1("{'descr': '|i1', 'fortran_order': False, 'shape': (-2, -3), }", data), "shape (-2, -3)"},
		{"huge shape (npyio would allocate 10 GB)", huge, "shape (100000, 100000)"},
		{"4 GB header (npyio would allocate it)", append([]byte("\x93NUMPY\x02\x00"), 0xf0, 0xff, 0xff, 0xff), "at most 10000"},
		{"header past the end", v2(int8Dict(2, 3)+"\n", nil)[:40], "truncated"},
		{"v2 cut in the length", []byte("\x93NUMPY\x02\x00\x10\x00"), "truncated"},
		{"version 3", append([]byte("\x93NUMPY\x03\x00"), npyV1(int8Dict(2, 3), data)[8:]...), "version 3.0"},
		{"no magic", append([]byte("PK"), npyV1(int8Dict(2, 3), data)[2:]...), "magic"},
		{"empty", nil, "magic"},
		{"data truncated (npyio would repeat the last byte)", npyV1(int8Dict(2, 3), data[:5]), "5 data bytes, shape (2, 3) needs 6"},
		{"data too long", npyV1(int8Dict(2, 3), append(data, 0)), "7 data bytes"},
		{"weight 64", npyV1(int8Dict(2, 3), []byte{1, 2, 3, 64, 5, 6}), "weight [1][0] = 64"},
		{"weight -128", npyV1(int8Dict(2, 3), []byte{1, 2, 3, 4, 5, 0x80}), "weight [1][2] = -128"},
	}
	for _, c := range bad {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readNPY(c.b, 2, 3)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: allocated %d bytes to refuse it", c.name, grew)
		}
		if strings.Contains(c.want, "malformed") && !errors.Is(err, errNPYHeader) {
			t.Errorf("%s: %v is not errNPYHeader", c.name, err)
		}
	}
}

// TestDecodeNPZBounds: a member whose zip header claims more bytes than
// its array needs is refused before it is read.
func TestDecodeNPZBounds(t *testing.T) {
	want := []array{{key: "a.weight", rows: 2, cols: 3}}
	big := array{key: "a.weight", rows: 200, cols: 300, data: make([]int8, 60000)}
	b, err := encodeNPZ([]array{big})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeNPZ(b, want); err == nil || !strings.Contains(err.Error(), "60") {
		t.Errorf("oversized member: %v", err)
	}
	ok, err := encodeNPZ([]array{{key: "a.weight", rows: 2, cols: 3, data: []int8{1, 2, 3, 4, 5, 6}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeNPZ(ok, want)
	if err != nil || fmt.Sprint(got) != "map[a.weight:[1 2 3 4 5 6]]" {
		t.Errorf("decodeNPZ: %v %v", got, err)
	}
	if _, err := encodeNPZ([]array{{key: "a", rows: 2, cols: 3, data: []int8{1}}}); err == nil {
		t.Errorf("encodeNPZ accepted 1 value for (2, 3)")
	}
}
