package export

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/mnist"
	"github.com/analogloop/analogloop/datasets/mnist/mnisttest"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

func TestExportImportRoundTrip(t *testing.T) {
	for _, c := range netCases(t, 3) {
		t.Run(c.name, func(t *testing.T) {
			net := c.net
			before := slices.Clone(net.Analog()[0].Weights())
			m, path := exportTo(t, t.TempDir(), net, c.data(12, 1))
			if !slices.Equal(before, net.Analog()[0].Weights()) {
				t.Fatal("Export changed the network's float weights")
			}
			if len(m.References) != MaxReferences {
				t.Fatalf("%d references, want %d", len(m.References), MaxReferences)
			}
			got, gm, err := Import(path)
			if err != nil {
				t.Fatal(err)
			}
			m.path, gm.path = "", ""
			if !reflect.DeepEqual(m, gm) {
				t.Errorf("imported manifest differs from the exported one")
			}
			if !reflect.DeepEqual(got.Spec, net.Spec) {
				t.Errorf("imported Spec %+v, want %+v", got.Spec, net.Spec)
			}
			wa, wb := net.Analog(), got.Analog()
			for i := range wa {
				qa := wa[i].QuantizedWeights(nil)
				for j, v := range wb[i].Weights() {
					if v != float32(qa[j]) {
						t.Fatalf("layer %s weight %d: imported %g, want the integer %d", wa[i].Name, j, v, qa[j])
					}
				}
			}
			inputs := c.data(40, 9)
			la, lb := idealLogits(t, net, inputs), idealLogits(t, got, inputs)
			classes := map[int]bool{}
			for i := range la {
				if la[i] != lb[i] {
					t.Fatalf("logit %d: original %g, imported %g", i, la[i], lb[i])
				}
			}
			k := net.Classes
			for i := range inputs.N {
				classes[argmax(ints8f(la[i*k:(i+1)*k]))] = true
			}
			if len(classes) < 2 {
				t.Errorf("every input gives the same class: the comparison is too weak")
			}
		})
	}
}

func ints8f(v []float32) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// TestManifestContents checks the fields a reimplementation relies on.
func TestManifestContents(t *testing.T) {
	net := build(t, models.BSS2MNIST(), digits(1, 1), 5)
	dir := t.TempDir()
	m, path := exportTo(t, dir, net, digits(3, 2))
	raw := read(t, dir, "net.json")
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format_version", "created_by", "created", "model", "input", "classes", "gain_per_send", "semantics",
		"layers", "weights", "dataset", "device", "accuracy", "ideal_accuracy", "ideal_samples", "note", "references"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("manifest lacks %q", k)
		}
	}
	if doc["format_version"] != float64(2) || doc["created_by"] != "analogloop" || obj(doc["device"])["chip_seed"] != float64(42) {
		t.Errorf("format_version %v created_by %v device %v", doc["format_version"], doc["created_by"], doc["device"])
	}
	if fmt.Sprint(doc["input"]) != "map[channels:1 height:28 width:28]" || doc["classes"] != float64(10) {
		t.Errorf("input %v classes %v", doc["input"], doc["classes"])
	}
	// One gain: at the top level, none per layer.
	if doc["gain_per_send"] != analogmac.DefaultGain {
		t.Errorf("gain_per_send %v", doc["gain_per_send"])
	}
	for i, l := range list(doc["layers"]) {
		if _, ok := obj(l)["gain_per_send"]; ok {
			t.Errorf("layer %d has its own gain_per_send", i)
		}
	}
	if len(m.References) != 3 {
		t.Errorf("%d references from a set of 3, want 3", len(m.References))
	}
	var types []string
	for _, l := range m.Layers {
		types = append(types, l.Type)
	}
	if got := strings.Join(types, " "); got != "conv2d converting_relu flatten dense converting_relu dense" {
		t.Errorf("layer types %q", got)
	}
	conv, d1 := m.Layers[0], m.Layers[3]
	if got := fmt.Sprintf("%v %v %v %v %v %v %v %v %s %s", conv.InputHWC, conv.Kernel, conv.Stride, conv.Padding, conv.OutputHW, conv.OutputShape,
		conv.In, conv.Shape, conv.Weights, conv.DType); got != "[28 28 1] 10 5 1 [5 5] [25 20] 100 [100 20] conv.weight int8" {
		t.Errorf("conv layer: %s", got)
	}
	if *m.Layers[1].Shift != 1 || fmt.Sprint(m.Layers[2].OutputShape) != "[1 500]" || m.Layers[2].Out != 0 {
		t.Errorf("relu shift %d, flatten output_shape %v out %d", *m.Layers[1].Shift, m.Layers[2].OutputShape, m.Layers[2].Out)
	}
	// dense1: 500 rows in 4 row blocks, placed at physical column 256.
	var want []analogmac.Tile
	for r0 := 0; r0 < 500; r0 += 128 {
		want = append(want, analogmac.Tile{Row0: r0, Row1: min(r0+128, 500), Col0: 0, Col1: 128, PhysRow: 0, PhysCol: 256})
	}
	if fmt.Sprint(d1.Tiles) != fmt.Sprint(want) || d1.Placement.Column != 256 || d1.Sends != net.Analog()[1].Sends {
		t.Errorf("dense1 tiles %v placement %+v sends %d, want %v at column 256", d1.Tiles, d1.Placement, d1.Sends, want)
	}
	r := m.References[1]
	if r.Index != 1 || len(r.Values) != 784 || len(r.Outputs) != 3 || fmt.Sprint(r.Outputs[0].Shape) != "[25 20]" || len(r.Logits) != 10 || r.Predicted != argmax(r.Logits) {
		t.Errorf("reference %+v", r)
	}
	if !slices.Equal(r.Values, ints(digits(3, 2).Sample(1))) {
		t.Errorf("reference 1 does not hold sample 1's values")
	}
	// Lists of numbers are kept on one line.
	if n := bytes.Count(raw, []byte("\n")); n > 400 {
		t.Errorf("manifest has %d lines: number lists were spread out", n)
	}
	npzRaw := read(t, dir, "net.npz")
	if sum := sha256.Sum256(npzRaw); hex.EncodeToString(sum[:]) != m.Weights.SHA256 || int64(len(npzRaw)) != m.Weights.Bytes || m.Weights.File != "net.npz" {
		t.Errorf("manifest's weights entry %+v does not match net.npz", m.Weights)
	}
	if rm, err := ReadManifest(path); err != nil || !reflect.DeepEqual(rm.Layers, m.Layers) {
		t.Errorf("ReadManifest: %v", err)
	}
}

// npyHeaderRE matches the header dict npyio writes, which numpy reads.
var npyHeaderRE = regexp.MustCompile(`^\{'descr': '([^']*)', 'fortran_order': (True|False), 'shape': \((\d+), (\d+)\), \} *\n$`)

// TestNPZIsNumpyFormat reads the npz with archive/zip and by hand, not with
// the package's reader: a stored (uncompressed) zip with fixed times whose
// members are .npy files as numpy defines them.
func TestNPZIsNumpyFormat(t *testing.T) {
	net := build(t, models.BSS2MNIST(), digits(1, 1), 4)
	dir := t.TempDir()
	exportTo(t, dir, net, digits(2, 1))
	zr, err := zip.OpenReader(filepath.Join(dir, "net.npz"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for i, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store || !f.Modified.Equal(npzTime) {
			t.Errorf("%s: method %d modified %v, want stored at %v", f.Name, f.Method, f.Modified, npzTime)
		}
		a := net.Analog()[i]
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rc.Close()
		d := b.Bytes()
		if string(d[:6]) != "\x93NUMPY" || d[6] != 2 || d[7] != 0 {
			t.Fatalf("%s: magic/version % x, want \\x93NUMPY 2.0 (what npyio writes)", f.Name, d[:8])
		}
		hlen := int(binary.LittleEndian.Uint32(d[8:12]))
		sm := npyHeaderRE.FindStringSubmatch(string(d[12 : 12+hlen]))
		if sm == nil {
			t.Fatalf("%s: header %q", f.Name, d[12:12+hlen])
		}
		if sm[1] != "|i1" || sm[2] != "False" || sm[3] != strconv.Itoa(a.In) || sm[4] != strconv.Itoa(a.Out) {
			t.Errorf("%s: descr %s fortran %s shape (%s, %s), want |i1 False (%d, %d)", f.Name, sm[1], sm[2], sm[3], sm[4], a.In, a.Out)
		}
		if !bytes.Equal(d[12+hlen:], i8bytes(a.QuantizedWeights(nil))) {
			t.Errorf("%s: data differ from the quantized weights", f.Name)
		}
	}
	if got := strings.Join(names, " "); got != "conv.weight.npy dense1.weight.npy dense2.weight.npy" {
		t.Errorf("members %q", got)
	}
}

// TestExportDeterministicAndAtomic: the same weights give the same npz
// bytes; a rewrite replaces the files and leaves no temporary file; a
// failed write leaves none either.
func TestExportDeterministicAndAtomic(t *testing.T) {
	net := build(t, models.MLP(128), digits(1, 1), 2)
	dir := t.TempDir()
	m1, _ := exportTo(t, dir, net, digits(4, 1))
	npz1 := read(t, dir, "net.npz")
	m2, _ := exportTo(t, t.TempDir(), net, digits(4, 1))
	if m1.Weights.SHA256 != m2.Weights.SHA256 {
		t.Errorf("two exports of the same weights differ: %s vs %s", m1.Weights.SHA256, m2.Weights.SHA256)
	}
	net.Analog()[0].Weights()[0] += 5
	m3, path := exportTo(t, dir, net, digits(4, 1))
	if m3.Weights.SHA256 == m1.Weights.SHA256 || bytes.Equal(npz1, read(t, dir, "net.npz")) {
		t.Errorf("changed weights, same npz")
	}
	if _, _, err := Import(path); err != nil {
		t.Errorf("re-export does not import: %v", err)
	}
	if names := dirNames(t, dir); names != "net.json net.npz" {
		t.Errorf("directory holds %s, want net.json net.npz", names)
	}

	// The manifest's path is a directory: the rename fails, the temporary
	// file goes.
	bad := t.TempDir()
	if err := os.Mkdir(filepath.Join(bad, "net.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Export(bad, "net", net, testInfo(100), digits(2, 1)); err == nil {
		t.Errorf("Export over a directory succeeded")
	}
	if names := dirNames(t, bad); strings.Contains(names, "tmp") {
		t.Errorf("temporary files left behind: %s", names)
	}
	for _, name := range []string{"", "../net", "a/b", "..", "."} {
		if _, err := Export(t.TempDir(), name, net, testInfo(100), digits(2, 1)); err == nil || !strings.Contains(err.Error(), "plain file name") {
			t.Errorf("name %q: error %v, want a refusal", name, err)
		}
	}
}

func dirNames(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return strings.Join(ns, " ")
}

// TestExportRefusesUnrebuildable: a network whose layers no longer match
// its Spec, with a layer the format lacks, or with Info figures that
// disagree, is not exported (it would not import).
func TestExportRefusesUnrebuildable(t *testing.T) {
	refs := digits(2, 1)
	net := build(t, models.BSS2MNIST(), refs, 1)
	net.Analog()[2].Place.Column = 100
	_, err := Export(t.TempDir(), "net", net, testInfo(100), refs)
	if err == nil || !strings.Contains(err.Error(), `"layers[5].placement"`) || !strings.Contains(err.Error(), "changed after models.Build") {
		t.Errorf("moved layer: error %v, want one naming the placement", err)
	}

	net = build(t, models.MLP(128), refs, 1)
	net.Layers = append(net.Layers, layers.NewBias("b", 10))
	_, err = Export(t.TempDir(), "net", net, testInfo(100), refs)
	if err == nil || !strings.Contains(err.Error(), "bias") {
		t.Errorf("bias layer: error %v, want a refusal naming it", err)
	}

	net = build(t, models.MLP(128), refs, 1)
	for _, c := range []struct {
		name  string
		edit  func(*Info)
		field string
	}{
		{"mean", func(i *Info) { i.Accuracy.Mean += 0.01 }, "accuracy.mean"},
		{"std", func(i *Info) { i.Accuracy.Std = 0 }, "accuracy.std"},
		{"no trials", func(i *Info) { i.Accuracy = AccuracyStats{} }, "accuracy.trials"},
		{"samples", func(i *Info) { i.IdealSamples = 0 }, "ideal_samples"},
		{"trials on another set", func(i *Info) { i.IdealSamples = 99 }, "ideal_accuracy"},
	} {
		info := testInfo(100)
		c.edit(&info)
		_, err := Export(t.TempDir(), "net", net, info, refs)
		var e *Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.field)
		}
	}
	other := yinyangSet(t, 2, 1)
	if _, err := Export(t.TempDir(), "net", net, testInfo(100), other); err == nil || !strings.Contains(err.Error(), "reference samples") {
		t.Errorf("references of another geometry: %v", err)
	}
}

// blockClampNet is an MLP whose first layer saturates its first 128-row
// block and pulls its second block negative on a white image, so that
// clamping each block before adding (rather than only the sum) shows.
func blockClampNet(t testing.TB) *models.Network {
	net := build(t, models.MLP(128), digits(1, 1), 13)
	d1 := net.Analog()[0]
	w := d1.Weights()
	for c := range d1.Out {
		for r := range d1.In {
			var v float32 // rows past the second block: 0
			switch {
			case r < 128:
				v = 63
			case r < 256:
				v = -float32(c % 50)
			}
			w[r*d1.Out+c] = v
		}
	}
	return net
}

// whiteFirst returns digits(n, seed) with sample 0 all white.
func whiteFirst(n int, seed uint64) *datasets.Set {
	s := digits(n, seed)
	for i := range 784 {
		s.Samples[i] = 255
	}
	return s
}

// TestBlockClamp: on blockClampNet's white image, the first layer's
// outputs are those of per-block clamping, not of one clamp of the sum,
// and Infer agrees with the device.
func TestBlockClamp(t *testing.T) {
	net := blockClampNet(t)
	m, _ := exportTo(t, t.TempDir(), net, whiteFirst(2, 1))
	d1 := m.Layers[0]
	k := m.GainPerSend * float64(d1.Sends)
	y := m.References[0].Outputs[0].Values
	differ := 0
	for c := range d1.Out {
		b1 := max(-128, math.Floor(k*float64(128*31*-(c%50))))
		blocked := min(127, max(-128, 127+b1))
		if float64(y[c]) != blocked {
			t.Fatalf("column %d: output %d, per-block clamping gives %g", c, y[c], blocked)
		}
		if blocked != 127 {
			differ++ // one clamp of the whole sum would give 127
		}
	}
	if differ == 0 {
		t.Fatal("no column tells the two clamping rules apart")
	}
	got, err := m.Infer(quantized(net), whiteFirst(1, 1).Sample(0))
	if err != nil {
		t.Fatal(err)
	}
	for c, v := range got.Outputs[0] {
		if int(v) != y[c] {
			t.Fatalf("Infer column %d: %d, device %d", c, v, y[c])
		}
	}
}

// TestInferMatchesDevice: the manifest-only integer inference (the
// documented semantics) gives exactly the ideal device's outputs, on
// ordinary samples, saturating ones and blank ones.
func TestInferMatchesDevice(t *testing.T) {
	for _, c := range netCases(t, 11) {
		net := c.net
		m, _ := exportTo(t, t.TempDir(), net, c.data(2, 1))
		set := c.data(30, 5)
		per := set.Values()
		for i := range per {
			set.Samples[i] = 255 // saturates
			set.Samples[per+i] = 0
		}
		want := idealLogits(t, net, set)
		weights := quantized(net)
		sat := 0
		for i := range set.N {
			got, err := m.Infer(weights, set.Sample(i))
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range got.Logits {
				if float32(v) != want[i*net.Classes+j] {
					t.Fatalf("%s sample %d logit %d: Infer %d, device %g", c.name, i, j, v, want[i*net.Classes+j])
				}
			}
			for _, o := range got.Outputs {
				for _, v := range o {
					if v == 127 || v == -128 {
						sat++
					}
				}
			}
		}
		if sat == 0 {
			t.Errorf("%s: no output saturated: the clamps went untested", c.name)
		}
	}
	if argmax([]int{3, 5, 5, 1}) != 1 {
		t.Errorf("argmax tie not resolved to the lowest index")
	}
}

// TestImportReproducesIdealAccuracy: the recorded ideal accuracy comes
// back when the imported network is evaluated on the same set.
func TestImportReproducesIdealAccuracy(t *testing.T) {
	ctx := context.Background()
	for _, c := range netCases(t, 8) {
		t.Run(c.name, func(t *testing.T) {
			checkAccuracyRoundTrip(ctx, t, c.net, c.data(150, 3))
		})
	}
}

func checkAccuracyRoundTrip(ctx context.Context, t *testing.T, net *models.Network, set *datasets.Set) {
	info := idealInfo(t, net, set)
	path := filepath.Join(t.TempDir(), "acc.json")
	if _, err := Export(filepath.Dir(path), "acc", net, info, set); err != nil {
		t.Fatal(err)
	}
	imp, m, err := Import(path)
	if err != nil {
		t.Fatal(err)
	}
	// Evaluated independently of CheckAccuracy, with another batch size.
	gr, err := imp.NewGraph(models.GraphOptions{Batch: 50, On: analogmac.NewIdeal()})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	n, err := gr.Correct(ctx, set, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := float64(n) / float64(set.N); got != m.IdealAccuracy {
		t.Errorf("imported network: accuracy %g, manifest records %g", got, m.IdealAccuracy)
	}
	if _, err := m.CheckAccuracy(ctx, imp, set); err != nil {
		t.Errorf("CheckAccuracy: %v", err)
	}
	m.IdealAccuracy += 1.0 / float64(set.N)
	if _, err := m.CheckAccuracy(ctx, imp, set); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), `"ideal_accuracy"`) {
		t.Errorf("CheckAccuracy with a wrong record: error %v", err)
	}
	t.Logf("ideal accuracy %.4f on %d samples reproduced", info.IdealAccuracy, set.N)
}

// TestCheckAccuracySubset: an export whose accuracies were measured on the
// first IdealSamples samples checks against a larger test set (it uses
// those samples) and refuses a smaller one.
func TestCheckAccuracySubset(t *testing.T) {
	ctx := context.Background()
	net := build(t, models.MLP(128), digits(1, 1), 21)
	test := digits(300, 4)
	first := test.Head(120)
	info := idealInfo(t, net, first)
	full, err := IdealAccuracy(ctx, net, test)
	if err != nil {
		t.Fatal(err)
	}
	if math.Round(full*300) == math.Round(info.IdealAccuracy*300) {
		t.Fatalf("the subset's accuracy (%g) equals the whole set's (%g): the test cannot tell them apart", info.IdealAccuracy, full)
	}
	dir := t.TempDir()
	if _, err := Export(dir, "net", net, info, test); err != nil {
		t.Fatal(err)
	}
	imp, m, err := Import(filepath.Join(dir, "net.json"))
	if err != nil {
		t.Fatal(err)
	}
	acc, err := m.CheckAccuracy(ctx, imp, test)
	if err != nil || acc != info.IdealAccuracy {
		t.Errorf("CheckAccuracy on the whole set: %g, %v; want %g", acc, err, info.IdealAccuracy)
	}
	var e *Error
	if _, err := m.CheckAccuracy(ctx, imp, test.Head(100)); !errors.As(err, &e) || e.Field != "ideal_samples" || errors.Is(err, ErrTampered) {
		t.Errorf("CheckAccuracy on too few samples: %v", err)
	}
}

// TestExportRealMNIST exports a network (random weights) evaluated on the
// real MNIST test set and checks the import reproduces its accuracy.
func TestExportRealMNIST(t *testing.T) {
	dir := mnisttest.Dir(t)
	if testing.Short() {
		t.Skip("-short")
	}
	ctx := context.Background()
	data, err := mnist.Load(ctx, mnist.Options{Dir: dir, NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	checkAccuracyRoundTrip(ctx, t, build(t, models.BSS2MNIST(), data.Test, 1), data.Test)
}

// TestPerLayerShifts: two converting_relu layers with different shifts
// keep them through an export, and the shift of each is what the
// references depend on.
func TestPerLayerShifts(t *testing.T) {
	refs := digits(8, 3)
	net := build(t, twoShifts(), refs, 5)
	dir := t.TempDir()
	m, path := exportTo(t, dir, net, refs)
	var shifts []int
	for _, l := range m.Layers {
		if l.Shift != nil {
			shifts = append(shifts, *l.Shift)
		}
	}
	if fmt.Sprint(shifts) != "[1 2]" {
		t.Fatalf("manifest shifts %v, want [1 2]", shifts)
	}
	imp, _, err := Import(path)
	if err != nil {
		t.Fatal(err)
	}
	shifts = nil
	for _, l := range imp.Layers {
		if r, ok := l.(*layers.ConvertingReLU); ok {
			shifts = append(shifts, r.Shift)
		}
	}
	if fmt.Sprint(shifts) != "[1 2]" {
		t.Fatalf("imported shifts %v, want [1 2]", shifts)
	}
	// Giving the second activation the first one's shift changes the
	// outputs the references record.
	edit(t, dir, func(m map[string]any) { layer(m, 3)["shift"] = 1 })
	if _, _, err := Import(path); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "do not reproduce") {
		t.Errorf("shift 2 -> 1: %v", err)
	}
}

// TestNonImageExport: the Yin-Yang network (1x4 samples, 3 classes)
// exports, imports and reproduces its accuracy.
func TestNonImageExport(t *testing.T) {
	ctx := context.Background()
	test := yinyangSet(t, 400, 41)
	net := build(t, models.YinYang(), test, 2)
	dir := t.TempDir()
	m, err := Export(dir, "yy", net, idealInfo(t, net, test), test)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m.Input) != "{1 4 1}" || m.Classes != 3 || len(m.References[0].Values) != 4 || m.Model.Name != models.YinYangName {
		t.Errorf("input %v classes %d reference values %v model %q", m.Input, m.Classes, m.References[0].Values, m.Model.Name)
	}
	imp, im, err := Import(filepath.Join(dir, "yy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.CheckAccuracy(ctx, imp, test); err != nil {
		t.Error(err)
	}
}
