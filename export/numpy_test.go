package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/models"
)

// pythonWithNumpy returns a Python interpreter that can import numpy
// ($PYTHON, python3 on the PATH, then /usr/bin/python3, where Debian's
// python3-numpy goes), or skips the test; under CI=true it fails instead.
func pythonWithNumpy(t *testing.T) string {
	t.Helper()
	for _, py := range []string{os.Getenv("PYTHON"), "python3", "/usr/bin/python3"} {
		if py != "" && exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no python3 with numpy: install python3-numpy")
	}
	t.Skip("no python3 with numpy (Debian: apt-get install python3-numpy; or set $PYTHON)")
	return ""
}

// TestNumpyLoadsExport: numpy itself reads the npz as int8 (in, out)
// arrays with the exported values, without a warning.
func TestNumpyLoadsExport(t *testing.T) {
	py := pythonWithNumpy(t)
	net := build(t, models.BSS2MNIST(), digits(1, 1), 4)
	dir := t.TempDir()
	exportTo(t, dir, net, digits(2, 1))
	script := `
import sys, warnings, numpy as np
warnings.simplefilter("error")
z = np.load(sys.argv[1])
for k in z.files:
    a = z[k]
    print(k, a.dtype.str, a.shape, int(a.astype(np.int64).sum()), int(a[0, -1]), int(a[-1, 0]))
`
	out, err := exec.Command(py, "-c", script, filepath.Join(dir, "net.npz")).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	var want []string
	for _, a := range net.Analog() {
		q := a.QuantizedWeights(nil)
		s := 0
		for _, v := range q {
			s += int(v)
		}
		want = append(want, fmt.Sprintf("%s.weight |i1 (%d, %d) %d %d %d", a.Name, a.In, a.Out, s, q[a.Out-1], q[(a.In-1)*a.Out]))
	}
	if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
		t.Errorf("numpy read\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// TestNumpyWrittenNPZImports: the same arrays saved by numpy.savez and
// numpy.savez_compressed (.npy 1.0, zip64 headers, deflate) import once
// the manifest records the new file.
func TestNumpyWrittenNPZImports(t *testing.T) {
	py := pythonWithNumpy(t)
	refs := digits(4, 1)
	net := build(t, models.BSS2MNIST(), refs, 4)
	src := t.TempDir()
	exportTo(t, src, net, refs)
	for _, save := range []string{"savez", "savez_compressed"} {
		dir := copyExport(t, src)
		script := fmt.Sprintf(`
import sys, numpy as np
z = dict(np.load(sys.argv[1]))
np.%s(sys.argv[2], **z)
`, save)
		out, err := exec.Command(py, "-c", script, filepath.Join(dir, "net.npz"), filepath.Join(dir, "resaved.npz")).CombinedOutput()
		if err != nil {
			t.Fatalf("numpy: %v\n%s", err, out)
		}
		if bytes.Equal(read(t, dir, "resaved.npz"), read(t, dir, "net.npz")) {
			t.Fatalf("%s wrote the same bytes as npyio: the test proves nothing", save)
		}
		write(t, dir, "net.npz", read(t, dir, "resaved.npz"))
		setSHA(t, dir)
		imp, _, err := Import(filepath.Join(dir, "net.json"))
		if err != nil {
			t.Fatalf("%s: %v", save, err)
		}
		for i, a := range imp.Analog() {
			if !slices.Equal(a.QuantizedWeights(nil), net.Analog()[i].QuantizedWeights(nil)) {
				t.Errorf("%s: layer %s: weights differ", save, a.Name)
			}
		}
	}
}

// TestDocsNumpySnippet runs the numpy code of docs/inference.md on fresh
// exports of every kind of network: it must reproduce every reference
// vector and the recorded ideal accuracy, and must notice a changed
// reference.
func TestDocsNumpySnippet(t *testing.T) {
	py := pythonWithNumpy(t)
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(docs(t))
	if m == nil {
		t.Fatal("docs/inference.md has no python block")
	}
	work := t.TempDir()
	script := filepath.Join(work, "infer.py")
	write(t, work, "infer.py", m[1])
	// accuracy.py evaluates a set with the snippet's infer().
	write(t, work, "accuracy.py", []byte(`
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("infer", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
m, weights = mod.load(sys.argv[2])
per = m["input"]["height"] * m["input"]["width"] * m["input"]["channels"]
values = np.fromfile(sys.argv[3], dtype=np.uint8).reshape(-1, per)
labels = np.fromfile(sys.argv[4], dtype=np.uint8)
correct = sum(mod.infer(m, weights, v)[2] == int(l) for v, l in zip(values, labels))
print("correct", correct, "of", len(labels))
`))
	cases := netCases(t, 12)
	cases = append(cases, netCase{"block-clamp", blockClampNet(t), func(n int, s uint64) *datasets.Set { return whiteFirst(n, s) }})
	for _, c := range cases {
		dir := t.TempDir()
		set := c.data(120, 21)
		write(t, dir, "values.u8", set.Samples)
		write(t, dir, "labels.u8", set.Labels)
		info := idealInfo(t, c.net, set)
		if _, err := Export(dir, "net", c.net, info, c.data(8, 6)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "net.json")
		out, err := exec.Command(py, filepath.Join(work, "accuracy.py"), script, path, filepath.Join(dir, "values.u8"),
			filepath.Join(dir, "labels.u8")).CombinedOutput()
		if want := fmt.Sprintf("correct %d of %d", int(math.Round(info.IdealAccuracy*float64(set.N))), set.N); err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: numpy accuracy: %v %q, want %q (ideal_accuracy)", c.name, err, out, want)
		}
		t.Logf("%s: numpy %s", c.name, bytes.TrimSpace(out))
		out, err = exec.Command(py, script, path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "all 8 reference vectors reproduced") {
			t.Errorf("%s: docs snippet: %v\n%s", c.name, err, out)
		}
		edit(t, dir, func(m map[string]any) { bump(list(ref(m, 3)["logits"]), 2) })
		out, err = exec.Command(py, script, path).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "reference 3") {
			t.Errorf("%s: docs snippet accepted a changed logit: %v\n%s", c.name, err, out)
		}
	}
}

func docs(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "inference.md"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDocsListEveryField: every key of a manifest (of a chip-measured
// bss2-mnist export, which has every layer type) appears in
// docs/inference.md as `key`. The chip's configuration under device.chip
// is analogmac.ChipConfig's, listed there too.
func TestDocsListEveryField(t *testing.T) {
	doc := string(docs(t))
	net := build(t, models.BSS2MNIST(), digits(1, 1), 1)
	dir := t.TempDir()
	exportTo(t, dir, net, digits(2, 1))
	var m any
	if err := json.Unmarshal(read(t, dir, "net.json"), &m); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys[k] = true
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(m)
	if len(keys) < 60 {
		t.Fatalf("only %d keys: the walk is broken", len(keys))
	}
	for k := range keys {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/inference.md does not mention `%s`", k)
		}
	}
	// And the reverse for the top level: the table lists no field that is
	// not written.
	top := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(doc[:strings.Index(doc, "`semantics` holds")], -1)
	for _, s := range top {
		if !keys[s[1]] {
			t.Errorf("docs/inference.md lists `%s`, which the manifest does not hold", s[1])
		}
	}
}
