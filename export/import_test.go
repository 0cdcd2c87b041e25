package export

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/models"
)

// tamperSource exports a bss2-mnist network once for the tampering tests.
func tamperSource(t *testing.T) (dir string, arrays func() []array) {
	t.Helper()
	refs := digits(8, 4)
	net := build(t, models.BSS2MNIST(), refs, 6)
	dir = t.TempDir()
	exportTo(t, dir, net, refs)
	return dir, func() []array { return netArrays(net) }
}

// writeRawNPZ writes the arrays, the .npy bytes of key replaced by raw,
// then records the npz's SHA-256 in the manifest.
func writeRawNPZ(t *testing.T, dir string, as []array, key string, raw []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, a := range as {
		b := raw
		if a.key != key {
			b = npyOf(t, a)
		}
		w, err := zw.Create(a.key + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "net.npz", buf.Bytes())
	setSHA(t, dir)
}

func TestImportRefuses(t *testing.T) {
	src, arrays := tamperSource(t)
	conv := func(f func(d []byte) []byte) []byte {
		a := arrays()[0]
		return f(npyV1(int8Dict(a.rows, a.cols), i8bytes(a.data)))
	}
	cases := []struct {
		name  string
		do    func(t *testing.T, dir string)
		kind  error  // nil: must import
		field string // the *Error's Field, when set
		want  []string
	}{
		{"untouched", func(*testing.T, string) {}, nil, "", nil},
		{"npz rewritten identically", func(t *testing.T, d string) { writeNPZ(t, d, arrays()) }, nil, "", nil},
		{"npz member written by hand as numpy does (v1.0)", func(t *testing.T, d string) {
			writeRawNPZ(t, d, arrays(), "conv.weight", conv(func(b []byte) []byte { return b }))
		}, nil, "", nil},
		{"missing manifest", func(t *testing.T, d string) { rm(t, d, "net.json") }, fs.ErrNotExist, "", []string{"net.json"}},
		{"missing npz", func(t *testing.T, d string) { rm(t, d, "net.npz") }, fs.ErrNotExist, "", []string{"net.npz"}},
		{"npz tampered", func(t *testing.T, d string) {
			b := read(t, d, "net.npz")
			b[200] ^= 1
			write(t, d, "net.npz", b)
		}, ErrTampered, "weights.sha256", []string{"net.npz", "SHA-256", "changed or corrupted"}},
		{"npz grown", func(t *testing.T, d string) {
			write(t, d, "net.npz", append(read(t, d, "net.npz"), 0))
		}, ErrTampered, "weights.bytes", []string{"net.npz", "the manifest records"}},
		{"npz shortened, size recorded", func(t *testing.T, d string) {
			b := read(t, d, "net.npz")
			write(t, d, "net.npz", b[:len(b)-1])
			edit(t, d, func(m map[string]any) { obj(m["weights"])["bytes"] = len(b) - 1 })
		}, ErrTampered, "weights.sha256", []string{"net.npz"}},
		{"byte flipped in array data, sha updated", func(t *testing.T, d string) {
			b := read(t, d, "net.npz")
			i := bytes.Index(b, []byte(npyMagic))
			hlen := int(b[i+8]) | int(b[i+9])<<8
			b[i+12+hlen+37] ^= 0x01 // inside conv.weight's data
			write(t, d, "net.npz", b)
			setSHA(t, d)
		}, ErrTampered, "conv.weight.npy", []string{"net.npz", "corrupted", "checksum"}},
		{"zip directory damaged, sha updated", func(t *testing.T, d string) {
			b := read(t, d, "net.npz")
			write(t, d, "net.npz", b[:len(b)-10])
			setSHA(t, d)
		}, ErrTampered, "", []string{"net.npz", "not a valid npz"}},
		{"not json", func(t *testing.T, d string) { write(t, d, "net.json", []byte(`{"format_version": 2,`)) }, ErrNotExport, "", []string{"net.json", "not a JSON manifest"}},
		{"json array", func(t *testing.T, d string) { write(t, d, "net.json", []byte(`[2]`)) }, ErrNotExport, "", []string{"not a JSON manifest: a JSON array, not an object"}},
		{"data after the manifest", func(t *testing.T, d string) { write(t, d, "net.json", append(read(t, d, "net.json"), "{}"...)) },
			ErrNotExport, "", []string{"not a JSON manifest", "after top-level value"}},
		{"format version 1", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["format_version"] = 1 }) },
			ErrVersion, "format_version", []string{"net.json", "reads only version 2", "export the network again"}},
		{"format version 3", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["format_version"] = 3 }) },
			ErrVersion, "format_version", []string{"3: this build reads only version 2"}},
		{"format version a string", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["format_version"] = "2" }) },
			ErrNotExport, "format_version", []string{"want an integer"}},
		{"no format version", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { delete(m, "format_version") }) },
			ErrNotExport, "format_version", []string{"missing"}},
		{"another creator", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["created_by"] = "brevitas" }) },
			ErrNotExport, "created_by", []string{`"brevitas"`}},
		{"unknown field", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["bias"] = []int{1} }) },
			ErrNotExport, "", []string{"net.json", "unknown field", "bias"}},
		{"key in upper case", func(t *testing.T, d string) {
			write(t, d, "net.json", bytes.Replace(read(t, d, "net.json"), []byte(`"gain_per_send"`), []byte(`"GAIN_PER_SEND"`), 1))
		}, ErrNotExport, "GAIN_PER_SEND", []string{"lower-case"}},
		{"key folded from a non-ASCII letter", func(t *testing.T, d string) {
			write(t, d, "net.json", bytes.Replace(read(t, d, "net.json"), []byte(`"sends"`), []byte("\"\u017fends\""), 1))
		}, ErrNotExport, "\u017fends", []string{"lower-case"}},
		{"duplicate key", func(t *testing.T, d string) {
			write(t, d, "net.json", bytes.Replace(read(t, d, "net.json"), []byte(`"gain_per_send": 0.0018,`), []byte(`"gain_per_send": 0.0018, "gain_per_send": 0.003,`), 1))
		}, ErrNotExport, "gain_per_send", []string{"twice"}},
		{"unknown layer field", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 5)["gain_per_send"] = 0.002 })
		},
			ErrNotExport, "", []string{"unknown field", "gain_per_send"}},
		{"created not a time", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["created"] = "yesterday" }) },
			ErrTampered, "created", []string{"RFC 3339"}},
		{"semantics changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(m["semantics"])["block_rows"] = 64 })
		}, ErrNotExport, "semantics.block_rows", []string{"net.json", "64 in the manifest, this build implements 128"}},
		{"input divisor changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(m["semantics"])["input_divisor"] = 4 })
		}, ErrNotExport, "semantics.input_divisor", []string{"4 in the manifest"}},
		{"rule text changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(m["semantics"])["im2col"] = "whatever" })
		}, ErrNotExport, "semantics.im2col", nil},
		{"weights path escapes", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(m["weights"])["file"] = "../net.npz" })
		}, ErrTampered, "weights.file", []string{"net.json", "base name"}},
		{"sha256 upper case", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { w := obj(m["weights"]); w["sha256"] = strings.ToUpper(w["sha256"].(string)) })
		}, ErrTampered, "weights.sha256", []string{"lower-case hex"}},
		{"npz size beyond the layers' arrays", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(m["weights"])["bytes"] = 10 << 30 })
		}, ErrTampered, "weights.bytes", []string{"at most"}},
		{"wrong shape", func(t *testing.T, d string) {
			as := arrays()
			as[2].rows, as[2].cols = as[2].cols, as[2].rows
			writeNPZ(t, d, as)
		}, ErrTampered, "dense2.weight", []string{"net.npz", "shape (10, 128)", "want (128, 10)"}},
		{"weight out of range", func(t *testing.T, d string) {
			as := arrays()
			as[1].data[5*128+7] = 64
			writeNPZ(t, d, as)
		}, ErrTampered, "dense1.weight", []string{"net.npz", "[5][7] = 64", "-63..63"}},
		{"weight -64", func(t *testing.T, d string) {
			as := arrays()
			as[0].data[0] = -64
			writeNPZ(t, d, as)
		}, ErrTampered, "conv.weight", []string{"= -64"}},
		{"missing array", func(t *testing.T, d string) { writeNPZ(t, d, arrays()[:2]) }, ErrTampered, "dense2.weight", []string{"net.npz", "missing"}},
		{"extra array", func(t *testing.T, d string) {
			writeNPZ(t, d, append(arrays(), array{key: "extra", rows: 1, cols: 1, data: []int8{0}}))
		}, ErrTampered, "extra.npy", []string{"net.npz", "not an array of the manifest's layers"}},
		{"array twice", func(t *testing.T, d string) {
			as := arrays()
			writeNPZ(t, d, []array{as[0], as[2], as[2]})
		}, ErrTampered, "dense2.weight.npy", []string{"twice"}},
		{"wrong dtype", func(t *testing.T, d string) {
			a := arrays()[2]
			writeRawNPZ(t, d, arrays(), "dense2.weight", npyV1("{'descr': '<i2', 'fortran_order': False, 'shape': (128, 10), }", make([]byte, 2*a.rows*a.cols)))
		}, ErrTampered, "dense2.weight", []string{`dtype "<i2"`}},
		{"fortran order", func(t *testing.T, d string) {
			a := arrays()[0]
			writeRawNPZ(t, d, arrays(), "conv.weight", npyV1("{'descr': '|i1', 'fortran_order': True, 'shape': (100, 20), }", i8bytes(a.data)))
		}, ErrTampered, "conv.weight", []string{"fortran_order True"}},
		{"not npy", func(t *testing.T, d string) {
			writeRawNPZ(t, d, arrays(), "conv.weight", conv(func(b []byte) []byte { return append([]byte("PK"), b[2:]...) }))
		}, ErrTampered, "conv.weight", []string{"magic"}},
		{"npy data truncated", func(t *testing.T, d string) {
			writeRawNPZ(t, d, arrays(), "conv.weight", conv(func(b []byte) []byte { return b[:len(b)-1] }))
		}, ErrTampered, "conv.weight", []string{"1999 data bytes", "needs 2000"}},
		{"npy data too long", func(t *testing.T, d string) {
			writeRawNPZ(t, d, arrays(), "conv.weight", conv(func(b []byte) []byte { return append(b, 0) }))
		}, ErrTampered, "conv.weight", []string{"2001 data bytes"}},
		{"layer sends changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 3)["sends"] = 9 })
		}, ErrTampered, "references[0].outputs[1].values[0]", []string{"net.json", "layer dense1", "do not reproduce"}},
		{"layer kernel changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 0)["kernel"] = 9 })
		}, ErrTampered, "layers[0].in", []string{"100 in the manifest", "has 81"}},
		{"layer removed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["layers"] = list(m["layers"])[:5] })
		}, ErrTampered, "layers[4].type", []string{"last layer must be an analog layer"}},
		{"default left unresolved", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { delete(layer(m, 3), "sends") })
		}, ErrTampered, "layers[3].sends", []string{"absent in the manifest"}},
		{"tiles changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(list(layer(m, 3)["tiles"])[0])["phys_col"] = 0 })
		}, ErrTampered, "layers[3].tiles", nil},
		{"flatten output changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 2)["output_shape"] = []int{2, 250} })
		}, ErrTampered, "layers[2].output_shape", nil},
		{"shift changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 1)["shift"] = 3 })
		}, ErrTampered, "", []string{"do not reproduce"}},
		{"gain changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["gain_per_send"] = 0.003 })
		}, ErrTampered, "", []string{"do not reproduce"}},
		{"unknown layer type", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 2)["type"] = "attention" })
		}, ErrTampered, "layers[2].type", []string{`"attention"`}},
		{"reference output changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { bump(list(obj(list(ref(m, 2)["outputs"])[1])["values"]), 5) })
		}, ErrTampered, "references[2].outputs[1].values[5]", []string{"net.json", "layer dense1 output [0][5]"}},
		{"reference logit changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { bump(list(ref(m, 4)["logits"]), 3) })
		}, ErrTampered, "references[4].logits", []string{"last layer's recorded output"}},
		{"reference logit and last output changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) {
				bump(list(ref(m, 4)["logits"]), 3)
				bump(list(obj(list(ref(m, 4)["outputs"])[2])["values"]), 3)
			})
		}, ErrTampered, "references[4].outputs[2].values[3]", []string{"do not reproduce"}},
		{"reference class changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { r := ref(m, 1); r["predicted"] = (asInt(r["predicted"]) + 1) % 10 })
		}, ErrTampered, "references[1].predicted", []string{"argmax"}},
		{"reference values changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) {
				vs := list(ref(m, 0)["values"])
				for i := range vs {
					vs[i] = 0
				}
			})
		}, ErrTampered, "", []string{"references[0]", "do not reproduce"}},
		{"reference value out of range", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { list(ref(m, 0)["values"])[3] = 256 })
		}, ErrTampered, "references[0].values[3]", []string{"256"}},
		{"reference index", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { ref(m, 2)["index"] = 7 }) },
			ErrTampered, "references[2].index", nil},
		{"reference label", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { ref(m, 2)["label"] = 10 }) },
			ErrTampered, "references[2].label", []string{"0..9"}},
		{"reference shape", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(list(ref(m, 0)["outputs"])[0])["shape"] = []int{20, 25} })
		}, ErrTampered, "references[0].outputs[0].shape", nil},
		{"no references", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["references"] = []any{} }) },
			ErrTampered, "references", []string{"0 reference vectors"}},
		{"accuracy mean edited", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { obj(m["accuracy"])["mean"] = 0.999 })
		},
			ErrTampered, "accuracy.mean", []string{"0.999", "mean of the 3 recorded trials"}},
		{"accuracy std edited", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { obj(m["accuracy"])["std"] = 0.001 }) },
			ErrTampered, "accuracy.std", nil},
		{"a trial edited", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { list(obj(m["accuracy"])["trials"])[0] = 0.99 })
		}, ErrTampered, "accuracy.mean", nil},
		{"a trial not a whole count", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { list(obj(m["accuracy"])["trials"])[0] = 0.4912 })
		}, ErrTampered, "accuracy.trials[0]", []string{"whole number"}},
		{"ideal accuracy not a whole count", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["ideal_accuracy"] = 0.5005 }) },
			ErrTampered, "ideal_accuracy", []string{"whole number"}},
		{"ideal samples zero", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["ideal_samples"] = 0 }) },
			ErrTampered, "ideal_samples", nil},
		{"ideal device with noisy trials", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) {
				m["device"] = map[string]any{"kind": "ideal", "gain_per_send": 0.0018, "noise_std": 0}
			})
		}, ErrTampered, "accuracy.trials[1]", []string{"deterministic"}},
		{"device without kind", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { delete(obj(m["device"]), "kind") }) },
			ErrTampered, "device.kind", nil},
		{"note edited", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["note"] = "edited" }) }, nil, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyExport(t, src)
			c.do(t, dir)
			_, _, err := Import(filepath.Join(dir, "net.json"))
			if c.kind == nil {
				if err != nil {
					t.Fatalf("Import: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Import accepted it")
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %q is not an *Error", err)
			}
			if c.field != "" && e.Field != c.field {
				t.Errorf("error %q: field %q, want %q", err, e.Field, c.field)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, other := range []error{ErrNotExport, ErrTampered} {
				if other != c.kind && !(c.kind == ErrVersion && other == ErrNotExport) && errors.Is(err, other) {
					t.Errorf("error %q is also %v", err, other)
				}
			}
		})
	}
	t.Logf("%d cases", len(cases))
}

// TestImportV1 refuses a real export of format version 1 (kept in
// testdata/v1) clearly.
func TestImportV1(t *testing.T) {
	_, _, err := Import(filepath.Join("testdata", "v1", "mlp-export.json"))
	if !errors.Is(err, ErrVersion) || !errors.Is(err, ErrNotExport) || !strings.Contains(err.Error(), "format_version") ||
		!strings.Contains(err.Error(), "export the network again") {
		t.Errorf("v1 export: %v", err)
	}
}

// TestWhatChecksCannotSee documents the limits of the consistency checks:
// an edit that updates every derived field (here a weight the reference
// samples happen not to reach, with the npz's SHA-256 and size updated)
// imports; only a signature detects it.
func TestWhatChecksCannotSee(t *testing.T) {
	refs := digits(8, 4)
	net := build(t, models.MLP(128), refs, 6)
	src := t.TempDir()
	m, _ := exportTo(t, src, net, refs)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(filepath.Join(src, "net.json"), priv); err != nil {
		t.Fatal(err)
	}
	// A first-layer row no reference sample reaches: its input is 0 in all.
	row := -1
	for r := range 784 {
		seen := false
		for _, ref := range m.References {
			seen = seen || ref.Values[r]>>3 != 0
		}
		if !seen {
			row = r
			break
		}
	}
	if row < 0 {
		t.Fatal("every input row is reached by some reference")
	}
	forge := func(t *testing.T) string {
		dir := copyExport(t, src)
		write(t, dir, "net.json.sig", read(t, src, "net.json.sig"))
		as := netArrays(net)
		w := &as[0].data[row*128]
		if *w < 63 {
			*w++
		} else {
			*w--
		}
		writeNPZ(t, dir, as)
		return filepath.Join(dir, "net.json")
	}
	path := forge(t)
	if _, _, err := Import(path); err != nil {
		t.Errorf("the consistent forgery was refused (the docs say it is not detected): %v", err)
	}
	if _, _, err := ImportSigned(path, pub); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("ImportSigned accepted the forgery: %v", err)
	}
	if _, _, err := ImportSigned(filepath.Join(src, "net.json"), pub); err != nil {
		t.Errorf("ImportSigned of the signed export: %v", err)
	}
}

// TestSignature: a signed export imports with the right key only; an
// informative edit that Import accepts breaks the signature.
func TestSignature(t *testing.T) {
	refs := digits(8, 4)
	net := build(t, models.MLP(128), refs, 6)
	dir := t.TempDir()
	_, path := exportTo(t, dir, net, refs)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ImportSigned(path, pub); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no signature yet: %v", err)
	}
	if err := Sign(path, priv); err != nil {
		t.Fatal(err)
	}
	if sig := read(t, dir, "net.json.sig"); len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, read(t, dir, "net.json"), sig) {
		t.Errorf("net.json.sig is not the ed25519 signature of the manifest's bytes")
	}
	if _, m, err := ImportSigned(path, pub); err != nil || m.Model.Name != models.MLPName {
		t.Errorf("ImportSigned: %v", err)
	}
	if _, _, err := ImportSigned(path, other); !errors.Is(err, ErrTampered) {
		t.Errorf("another key: %v", err)
	}
	sig := read(t, dir, "net.json.sig")
	write(t, dir, "net.json.sig", append(sig, 0))
	if _, _, err := ImportSigned(path, pub); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "65 bytes") {
		t.Errorf("a signature of 65 bytes: %v", err)
	}
	write(t, dir, "net.json.sig", sig)
	edit(t, dir, func(m map[string]any) { m["note"] = "edited" })
	if _, _, err := Import(path); err != nil {
		t.Errorf("Import of the edited note: %v", err)
	}
	if _, _, err := ImportSigned(path, pub); !errors.Is(err, ErrTampered) {
		t.Errorf("ImportSigned after an edit: %v", err)
	}
	// Sign refuses what does not import.
	edit(t, dir, func(m map[string]any) { obj(m["accuracy"])["mean"] = 0.999 })
	if err := Sign(path, priv); !errors.Is(err, ErrTampered) {
		t.Errorf("Sign of a tampered export: %v", err)
	}
}
