package export

import (
	"os"
	"path/filepath"
	"testing"
)

// The export readers parse files that come from outside (a colleague's
// export, a download): they must refuse garbage with an error, never panic
// or allocate without bound. Seeds are in testdata/fuzz/.

func FuzzDecodeNPZ(f *testing.F) {
	want := map[string][2]int{"dense1.weight": {784, 128}, "dense2.weight": {128, 10}}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := decodeNPZ(data, want)
		if err != nil {
			return
		}
		for k, shape := range want {
			if len(out[k]) != shape[0]*shape[1] {
				t.Fatalf("%s: %d values accepted for shape %v", k, len(out[k]), shape)
			}
		}
	})
}

func FuzzParseNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, rows, cols uint8) {
		w, err := parseInt8NPY(data, int(rows), int(cols))
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
	})
}

// FuzzImportManifest feeds arbitrary manifests beside a valid npz.
func FuzzImportManifest(f *testing.F) {
	npz, err := os.ReadFile(filepath.Join("testdata", "mlp-export.npz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, manifest []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "mlp-export.npz"), npz, 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "m.json")
		if err := os.WriteFile(path, manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		net, m, err := Import(path)
		if err != nil {
			return
		}
		if net == nil || m == nil || len(net.Analog()) == 0 {
			t.Fatal("Import accepted a manifest but returned no network")
		}
	})
}
