package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sbinet/npyio/npy"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/datasetstest"
	"github.com/analogloop/analogloop/datasets/yinyang"
	"github.com/analogloop/analogloop/models"
)

var mnistInput = models.Input{Height: 28, Width: 28, Channels: 1}

// build builds spec for data of set's geometry with weights from seed.
func build(t testing.TB, spec models.Spec, set *datasets.Set, seed uint64) *models.Network {
	t.Helper()
	net, err := models.Build(spec, models.Input{Height: set.Height, Width: set.Width, Channels: set.Channels}, set.Classes)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(seed)
	return net
}

// digits is datasetstest.Digits: 28x28 images in 10 classes.
func digits(n int, seed uint64) *datasets.Set { return datasetstest.Digits(n, seed) }

// yinyangSet returns n Yin-Yang samples: 1x4x1 values in 3 classes.
func yinyangSet(t testing.TB, n int, seed uint64) *datasets.Set {
	t.Helper()
	s, err := yinyang.Set(n, seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// twoShifts is an MLP with two converting_relu layers of different shifts.
func twoShifts() models.Spec {
	one, two := 1, 2
	return models.Spec{Name: "two-shifts", Layers: []models.LayerSpec{
		{Type: models.Dense, Name: "d1", Out: 64},
		{Type: models.ConvertingReLU, Shift: &one},
		{Type: models.Dense, Name: "d2", Out: 32, Placement: &analogmac.Placement{Column: 64}},
		{Type: models.ConvertingReLU, Shift: &two},
		{Type: models.Dense, Name: "d3", Placement: &analogmac.Placement{Column: 96}},
	}}
}

// netCase is a network and data of its geometry.
type netCase struct {
	name string
	net  *models.Network
	data func(n int, seed uint64) *datasets.Set
}

// netCases covers every built-in model, one with two different shifts
// and (through the yinyang model) a non-image dataset.
func netCases(t testing.TB, seed uint64) []netCase {
	t.Helper()
	img := func(n int, s uint64) *datasets.Set { return digits(n, s) }
	yy := func(n int, s uint64) *datasets.Set { return yinyangSet(t, n, s) }
	return []netCase{
		{models.BSS2MNISTName, build(t, models.BSS2MNIST(), digits(1, 1), seed), img},
		{models.MLPName, build(t, models.MLP(128), digits(1, 1), seed), img},
		{models.YinYangName, build(t, models.YinYang(), yinyangSet(t, 1, 1), seed), yy},
		{"two-shifts", build(t, twoShifts(), digits(1, 1), seed), img},
	}
}

// testInfo is an Info whose figures are consistent with each other for a
// set of n samples: 3 trials on chip 42, an ideal accuracy (not measured).
func testInfo(n int) Info {
	k := n / 2
	trials := []float64{float64(k-1) / float64(n), float64(k) / float64(n), float64(k+1) / float64(n)}
	mean, std := MeanStd(trials)
	dev, err := analogmac.Preset(analogmac.KindChip, 42)
	if err != nil {
		panic(err)
	}
	return Info{Dataset: "synthetic", Device: dev, Accuracy: AccuracyStats{Mean: mean, Std: std, Trials: trials},
		IdealAccuracy: float64(k) / float64(n), IdealSamples: n, Note: "test export"}
}

// idealInfo measures net's ideal accuracy on set and records it, with the
// ideal device as the measured device.
func idealInfo(t testing.TB, net *models.Network, set *datasets.Set) Info {
	t.Helper()
	acc, err := IdealAccuracy(context.Background(), net, set)
	if err != nil {
		t.Fatal(err)
	}
	return Info{Dataset: "synthetic", Device: IdealDevice(net).Spec(), Accuracy: AccuracyStats{Mean: acc, Trials: []float64{acc}},
		IdealAccuracy: acc, IdealSamples: set.N}
}

// exportTo exports net as dir/net.{npz,json} with testInfo and returns the
// manifest and its path.
func exportTo(t testing.TB, dir string, net *models.Network, refs *datasets.Set) (*Manifest, string) {
	t.Helper()
	m, err := Export(dir, "net", net, testInfo(100), refs)
	if err != nil {
		t.Fatal(err)
	}
	return m, filepath.Join(dir, "net.json")
}

// quantized returns every analog layer's integer weights by layer name.
func quantized(net *models.Network) map[string][]int8 {
	w := map[string][]int8{}
	for _, a := range net.Analog() {
		w[a.Name] = a.QuantizedWeights(nil)
	}
	return w
}

// idealLogits runs a set through net's compiled graph on its ideal device.
func idealLogits(t testing.TB, net *models.Network, set *datasets.Set) []float32 {
	t.Helper()
	gr, err := net.NewGraph(models.GraphOptions{Batch: set.N, On: IdealDevice(net)})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	idx := make([]int, set.N)
	for i := range idx {
		idx[i] = i
	}
	gr.Fill(set, idx, make([]uint8, set.N))
	if err := gr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), gr.Logits()...)
}

func read(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func rm(t testing.TB, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// copyExport copies dir/net.{json,npz} into a new temporary directory.
func copyExport(t testing.TB, src string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"net.json", "net.npz"} {
		write(t, dir, f, read(t, src, f))
	}
	return dir
}

// edit rewrites the manifest through a generic map (numbers kept exact).
func edit(t testing.TB, dir string, f func(map[string]any)) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(read(t, dir, "net.json")))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "net.json", b)
}

func obj(v any) map[string]any                     { return v.(map[string]any) }
func list(v any) []any                             { return v.([]any) }
func layer(m map[string]any, i int) map[string]any { return obj(list(m["layers"])[i]) }
func ref(m map[string]any, i int) map[string]any   { return obj(list(m["references"])[i]) }

func asInt(v any) int {
	n, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		panic(err)
	}
	return n
}

func asFloat(v any) float64 {
	f, err := strconv.ParseFloat(fmt.Sprint(v), 64)
	if err != nil {
		panic(err)
	}
	return f
}

// bump changes list[i] by one, staying inside int8.
func bump(l []any, i int) {
	v := asInt(l[i])
	if v < 127 {
		l[i] = v + 1
	} else {
		l[i] = v - 1
	}
}

// setSHA records the npz's current SHA-256 and size in the manifest, as a
// forger would.
func setSHA(t testing.TB, dir string) {
	t.Helper()
	b := read(t, dir, "net.npz")
	sum := sha256.Sum256(b)
	edit(t, dir, func(m map[string]any) {
		w := obj(m["weights"])
		w["sha256"] = hex.EncodeToString(sum[:])
		w["bytes"] = len(b)
	})
}

// netArrays returns net's arrays as Export writes them.
func netArrays(net *models.Network) []array {
	var as []array
	for _, a := range net.Analog() {
		as = append(as, array{key: a.Name + ".weight", rows: a.In, cols: a.Out, data: a.QuantizedWeights(nil)})
	}
	return as
}

// writeNPZ replaces the npz by the given arrays and updates the manifest.
func writeNPZ(t testing.TB, dir string, as []array) {
	t.Helper()
	b, err := encodeNPZ(as)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "net.npz", b)
	setSHA(t, dir)
}

// npyV1 writes a .npy version 1.0 file by hand, as numpy does: the header
// dict padded with spaces so that the data starts at a multiple of 64,
// then a newline.
func npyV1(dict string, data []byte) []byte {
	n := 10 + len(dict) + 1
	pad := (64 - n%64) % 64
	b := append([]byte(npyMagic), 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)+pad+1))
	b = append(b, dict...)
	b = append(b, bytes.Repeat([]byte{' '}, pad)...)
	b = append(b, '\n')
	return append(b, data...)
}

// int8Dict is the header dict numpy writes for an int8 C-order matrix.
func int8Dict(rows, cols int) string {
	return fmt.Sprintf("{'descr': '|i1', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
}

func i8bytes(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// near reports whether a and b agree to float64 rounding.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

// npyOf is a's .npy file as encodeNPZ writes it.
func npyOf(t testing.TB, a array) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := npy.Write(&b, matrixValue(a)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
