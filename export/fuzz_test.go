package export

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/models"
)

// The parsers of outside data (a colleague's export, a download) must
// refuse garbage with an error, never panic or allocate without bound.
// Each fuzz execution parses and validates one input and never replays an
// export (no network run, no files), so that the fuzzer runs thousands of
// executions per second. Seeds are in testdata/fuzz/; TestWriteFuzzSeeds
// regenerates the ones made from exports.

// fuzzShapes are the arrays of the yinyang network, whose npz is small.
var fuzzShapes = []array{{key: "dense1.weight", rows: 4, cols: 120}, {key: "dense2.weight", rows: 120, cols: 3}}

func FuzzReadNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, rows, cols uint8) {
		w, err := readNPY(data, int(rows), int(cols))
		if err != nil {
			return
		}
		if len(w) != int(rows)*int(cols) {
			t.Fatalf("%d values accepted for shape (%d, %d)", len(w), rows, cols)
		}
		for _, v := range w {
			if v < -63 || v > 63 {
				t.Fatalf("weight %d accepted", v)
			}
		}
		// What was accepted re-encodes to a file that reads back the same.
		b, err := encodeNPZ([]array{{key: "a", rows: int(rows), cols: int(cols), data: w}})
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeNPZ(b, []array{{key: "a", rows: int(rows), cols: int(cols)}})
		if err != nil || !reflect.DeepEqual(back["a"], w) {
			t.Fatalf("re-encoded array reads back as %v, %v", back["a"], err)
		}
	})
}

func FuzzDecodeNPZ(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := decodeNPZ(data, fuzzShapes)
		if err != nil {
			if _, ok := err.(*fieldError); !ok {
				t.Fatalf("error %T %v is not a *fieldError", err, err)
			}
			return
		}
		if len(out) != len(fuzzShapes) {
			t.Fatalf("%d arrays accepted, want %d", len(out), len(fuzzShapes))
		}
		for _, a := range fuzzShapes {
			if len(out[a.key]) != a.rows*a.cols {
				t.Fatalf("%s: %d values accepted for shape (%d, %d)", a.key, len(out[a.key]), a.rows, a.cols)
			}
		}
	})
}

// FuzzParseManifest checks what parseManifest accepts: it rebuilds, it
// re-encodes to a manifest that parses to the same, and the integer
// interpreter runs on it.
func FuzzParseManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, net, err := parseManifest(data)
		if err != nil {
			if _, ok := err.(*fieldError); !ok {
				t.Fatalf("error %T %v is not a *fieldError", err, err)
			}
			return
		}
		if net == nil || len(net.Analog()) == 0 || len(m.References) == 0 {
			t.Fatal("parseManifest accepted a manifest but returned no network")
		}
		js, err := encodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, _, err := parseManifest(js)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded manifest: %v", err)
		}
		weights := map[string][]int8{}
		for _, a := range net.Analog() {
			weights[a.Name] = make([]int8, a.In*a.Out)
		}
		vals := make([]uint8, len(m.References[0].Values))
		for i, v := range m.References[0].Values {
			vals[i] = uint8(v)
		}
		if _, err := m.Infer(weights, vals); err != nil {
			t.Fatalf("Infer on an accepted manifest: %v", err)
		}
	})
}

// TestWriteFuzzSeeds regenerates the seeds made from exports when
// EXPORT_FUZZ_SEEDS=1 (after a format change).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("EXPORT_FUZZ_SEEDS") != "1" {
		t.Skip("set EXPORT_FUZZ_SEEDS=1 to regenerate testdata/fuzz seeds")
	}
	seed := func(target, name string, args ...any) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			case uint8:
				fmt.Fprintf(&b, "byte(%d)\n", a)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, dir, name, []byte(b.String()))
	}
	// Small seeds keep each execution, and the minimization of what the
	// fuzzer finds, fast: one reference each.
	yy := yinyangSet(t, 1, 1)
	ynet := build(t, models.YinYang(), yy, 1)
	dir := t.TempDir()
	exportTo(t, dir, ynet, yy)
	seed("FuzzParseManifest", "v2-yinyang", read(t, dir, "net.json"))
	tiny := build(t, models.Spec{Name: "tiny", Layers: []models.LayerSpec{{Type: models.Dense, Name: "d"}}}, yy, 1)
	exportTo(t, dir, tiny, yy)
	seed("FuzzParseManifest", "v2-tiny", read(t, dir, "net.json"))
	npz := read(t, dir, "net.npz")
	seed("FuzzDecodeNPZ", "v2-yinyang", npz)
	seed("FuzzDecodeNPZ", "v2-yinyang-truncated", npz[:len(npz)/2])
	as := netArrays(ynet)
	b, err := encodeNPZ(as[1:])
	if err != nil {
		t.Fatal(err)
	}
	seed("FuzzDecodeNPZ", "v2-yinyang-missing", b)
	b, err = encodeNPZ([]array{as[1], as[0]})
	if err != nil {
		t.Fatal(err)
	}
	seed("FuzzDecodeNPZ", "v2-yinyang-swapped", b)

	bnet := build(t, models.BSS2MNIST(), digits(1, 1), 1)
	dir = t.TempDir()
	exportTo(t, dir, bnet, digits(1, 1))
	seed("FuzzParseManifest", "v2-bss2-mnist", read(t, dir, "net.json"))
	a := netArrays(ynet)[0]
	seed("FuzzReadNPY", "v2-npyio", npyOf(t, a), uint8(a.rows), uint8(a.cols))
	seed("FuzzReadNPY", "v1-numpy", npyV1(int8Dict(a.rows, a.cols), i8bytes(a.data)), uint8(a.rows), uint8(a.cols))
	seed("FuzzReadNPY", "keys-reordered", npyV1("{'shape': (4, 120), 'descr': '|i1', 'fortran_order': False, }", i8bytes(a.data)), uint8(a.rows), uint8(a.cols))
}
