package export

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sbinet/npyio/npz"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets/mnist"
	"github.com/analogloop/analogloop/datasets/mnist/mnisttest"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// synthSet returns n 28x28 images whose content depends on the label (a
// bar whose position is the label) plus random speckle, so that a random
// network's predictions vary from image to image.
func synthSet(n int, seed uint64) *mnist.Set {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := &mnist.Set{N: n, Rows: 28, Cols: 28, Images: make([]uint8, n*784), Labels: make([]uint8, n)}
	for i := range n {
		l := rng.IntN(10)
		s.Labels[i] = uint8(l)
		img := s.Image(i)
		for j := range img {
			if rng.IntN(6) == 0 {
				img[j] = uint8(rng.IntN(256))
			}
		}
		for x := 3; x < 25; x++ {
			img[(4+2*l)*28+x] = 255
			img[x*28+4+2*l] = 200
		}
	}
	return s
}

func newNet(t testing.TB, kind string, seed uint64) *models.Network {
	t.Helper()
	net, err := models.New(kind, models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	net.Init(seed)
	return net
}

func testInfo() ExportInfo {
	return ExportInfo{
		Dataset:      "mnist",
		Device:       analogmac.KindChip,
		Chip:         42,
		DeviceConfig: analogmac.DefaultChipConfig(),
		Accuracy:     AccuracyStats{Mean: 0.5, Std: 0.01, Trials: []float64{0.49, 0.51}},
		Note:         "test export",
	}
}

// exportTo exports net as dir/net.{npz,json} and returns the manifest path.
func exportTo(t testing.TB, dir string, net *models.Network, refs *mnist.Set) (*Manifest, string) {
	t.Helper()
	m, err := Export(dir, "net", net, testInfo(), refs)
	if err != nil {
		t.Fatal(err)
	}
	return m, filepath.Join(dir, "net.json")
}

// idealLogits runs images through net on an ideal device with its gain.
func idealLogits(t testing.TB, net *models.Network, set *mnist.Set) []float32 {
	t.Helper()
	prev := net.Backend.Device
	defer net.Use(prev)
	net.Use(IdealDevice(net))
	gr, err := net.NewGraph(set.N, false)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	layers.ScaleImages(gr.Input(), set.Images)
	if err := gr.Run(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), gr.Logits()...)
}

func TestExportImportRoundTrip(t *testing.T) {
	for _, kind := range models.Kinds {
		t.Run(kind, func(t *testing.T) {
			net := newNet(t, kind, 3)
			// Export runs on the ideal device and must put the net back.
			mock := analogmac.NewMock(1)
			net.Use(mock)
			refs := synthSet(12, 1)
			m, path := exportTo(t, t.TempDir(), net, refs)
			if net.Backend.Device != mock {
				t.Fatalf("Export left the network on %v, want the mock it was on", net.Backend.Device)
			}
			if len(m.References) != MaxReferences {
				t.Fatalf("%d references, want %d", len(m.References), MaxReferences)
			}

			got, gm, err := Import(path)
			if err != nil {
				t.Fatal(err)
			}
			if gm.Weights.SHA256 != m.Weights.SHA256 || len(gm.Layers) != len(m.Layers) {
				t.Errorf("imported manifest differs from the exported one")
			}
			if _, ok := got.Backend.Device.(*analogmac.Ideal); !ok {
				t.Errorf("imported network is on %T, want *analogmac.Ideal", got.Backend.Device)
			}
			wa, wb := net.Analog(), got.Analog()
			for i := range wa {
				qa, qb := wa[i].QuantizedWeights(nil), wb[i].QuantizedWeights(nil)
				if !bytes.Equal(i8bytes(qa), i8bytes(qb)) {
					t.Errorf("layer %s: imported quantized weights differ", wa[i].Name)
				}
				for j, v := range wb[i].Weights() {
					if v != float32(qa[j]) {
						t.Fatalf("layer %s weight %d: imported %g, want the integer %d", wa[i].Name, j, v, qa[j])
					}
				}
			}
			inputs := synthSet(40, 9)
			la, lb := idealLogits(t, net, inputs), idealLogits(t, got, inputs)
			classes := map[int]bool{}
			for i := range la {
				if la[i] != lb[i] {
					t.Fatalf("logit %d: original %g, imported %g", i, la[i], lb[i])
				}
			}
			for i := range inputs.N {
				classes[argmax(ints(la[i*10:(i+1)*10]))] = true
			}
			if len(classes) < 2 {
				t.Errorf("every input gives the same class: the comparison is too weak")
			}
		})
	}
}

// TestManifestContents checks the fields a reimplementation relies on.
func TestManifestContents(t *testing.T) {
	net := newNet(t, models.BSS2MNISTKind, 5)
	dir := t.TempDir()
	m, path := exportTo(t, dir, net, synthSet(3, 2))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format_version", "created_by", "model", "input", "gain_per_send", "semantics", "layers",
		"weights", "dataset", "device", "chip_seed", "device_config", "accuracy", "ideal_accuracy", "references"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("manifest lacks %q", k)
		}
	}
	if doc["format_version"] != float64(FormatVersion) || doc["created_by"] != "analogloop" || doc["chip_seed"] != float64(42) {
		t.Errorf("format_version %v created_by %v chip_seed %v", doc["format_version"], doc["created_by"], doc["chip_seed"])
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
	if fmt.Sprintf("%v %v %v %v %v %v %s %s", conv.InputHWC, conv.Kernel, conv.Stride, *conv.Padding, conv.OutputHW, conv.Shape, conv.Weights, conv.DType) !=
		"[28 28 1] 10 5 1 [5 5] [100 20] conv.weight int8" {
		t.Errorf("conv layer %+v", conv)
	}
	if *m.Layers[1].Shift != 1 || m.Layers[2].Out != 500 {
		t.Errorf("relu shift %d, flatten out %d", *m.Layers[1].Shift, m.Layers[2].Out)
	}
	// dense1: 500 rows in 4 row blocks, placed at physical column 256.
	var want []analogmac.Tile
	for r0 := 0; r0 < 500; r0 += 128 {
		want = append(want, analogmac.Tile{Row0: r0, Row1: min(r0+128, 500), Col0: 0, Col1: 128, PhysRow: 0, PhysCol: 256})
	}
	if fmt.Sprint(d1.Tiles) != fmt.Sprint(want) || d1.Placement.Column != 256 {
		t.Errorf("dense1 tiles %v placement %+v, want %v at column 256", d1.Tiles, d1.Placement, want)
	}
	if m.GainPerSend != analogmac.DefaultGain || d1.GainPerSend != analogmac.DefaultGain {
		t.Errorf("gain %g / %g, want %g", m.GainPerSend, d1.GainPerSend, analogmac.DefaultGain)
	}
	r := m.References[1]
	if len(r.Pixels) != 784 || len(r.Outputs) != 3 || fmt.Sprint(r.Outputs[0].Shape) != "[25 20]" || len(r.Logits) != 10 || r.Predicted != argmax(r.Logits) {
		t.Errorf("reference %+v", r)
	}
	// Lists of numbers are kept on one line.
	if n := bytes.Count(raw, []byte("\n")); n > 400 {
		t.Errorf("manifest has %d lines: number lists were spread out", n)
	}
	npzRaw, err := os.ReadFile(filepath.Join(dir, "net.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(npzRaw); hex.EncodeToString(sum[:]) != m.Weights.SHA256 || int64(len(npzRaw)) != m.Weights.Bytes {
		t.Errorf("manifest's sha256/bytes do not match net.npz")
	}
}

// npyHeaderRE matches the header dict numpy writes and reads.
var npyHeaderRE = regexp.MustCompile(`^\{'descr': '([^']*)', 'fortran_order': (True|False), 'shape': \((\d+), (\d+)\), \} *\n$`)

// TestNPZIsNumpyFormat reads the npz with archive/zip and by hand, not with
// the package's reader: each member is a .npy v1.0 file as numpy defines it.
func TestNPZIsNumpyFormat(t *testing.T) {
	net := newNet(t, models.BSS2MNISTKind, 4)
	dir := t.TempDir()
	exportTo(t, dir, net, synthSet(2, 1))
	path := filepath.Join(dir, "net.npz")
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for i, f := range zr.File {
		names = append(names, f.Name)
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
		if string(d[:6]) != "\x93NUMPY" || d[6] != 1 || d[7] != 0 {
			t.Fatalf("%s: magic/version % x, want \\x93NUMPY 1.0", f.Name, d[:8])
		}
		hlen := int(binary.LittleEndian.Uint16(d[8:10]))
		if (10+hlen)%64 != 0 {
			t.Errorf("%s: header of %d bytes is not 64-byte aligned", f.Name, 10+hlen)
		}
		sm := npyHeaderRE.FindStringSubmatch(string(d[10 : 10+hlen]))
		if sm == nil {
			t.Fatalf("%s: header %q", f.Name, d[10:10+hlen])
		}
		if sm[1] != "|i1" || sm[2] != "False" || sm[3] != strconv.Itoa(a.In) || sm[4] != strconv.Itoa(a.Out) {
			t.Errorf("%s: descr %s fortran %s shape (%s, %s), want |i1 False (%d, %d)", f.Name, sm[1], sm[2], sm[3], sm[4], a.In, a.Out)
		}
		if !bytes.Equal(d[10+hlen:], i8bytes(a.QuantizedWeights(nil))) {
			t.Errorf("%s: data differ from the quantized weights", f.Name)
		}
	}
	if got := strings.Join(names, " "); got != "conv.weight.npy dense1.weight.npy dense2.weight.npy" {
		t.Errorf("members %q", got)
	}

	// A third-party reader agrees.
	r, err := npz.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, a := range net.Analog() {
		key := a.Name + ".weight.npy"
		h := r.Header(key)
		if h == nil || h.Descr.Type != "|i1" || fmt.Sprint(h.Descr.Shape) != fmt.Sprint([]int{a.In, a.Out}) {
			t.Errorf("npyio: %s header %v", key, h)
			continue
		}
		var w []int8
		if err := r.Read(key, &w); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(i8bytes(w), i8bytes(a.QuantizedWeights(nil))) {
			t.Errorf("npyio: %s values differ", key)
		}
	}
}

// TestExportDeterministicAndAtomic: the same weights give the same npz
// bytes; a rewrite replaces the files and leaves no temporary file; a
// failed write leaves none either.
func TestExportDeterministicAndAtomic(t *testing.T) {
	net := newNet(t, models.MLPKind, 2)
	dir := t.TempDir()
	m1, _ := exportTo(t, dir, net, synthSet(4, 1))
	m2, _ := exportTo(t, dir, net, synthSet(4, 1))
	if m1.Weights.SHA256 != m2.Weights.SHA256 {
		t.Errorf("two exports of the same weights differ: %s vs %s", m1.Weights.SHA256, m2.Weights.SHA256)
	}
	net.Analog()[0].Weights()[0] += 5
	m3, path := exportTo(t, dir, net, synthSet(4, 1))
	if m3.Weights.SHA256 == m1.Weights.SHA256 {
		t.Errorf("changed weights, same SHA-256")
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
	if _, err := Export(bad, "net", net, testInfo(), synthSet(2, 1)); err == nil {
		t.Errorf("Export over a directory succeeded")
	}
	if names := dirNames(t, bad); strings.Contains(names, "tmp") {
		t.Errorf("temporary files left behind: %s", names)
	}
	for _, name := range []string{"", "../net", "a/b", ".."} {
		if _, err := Export(t.TempDir(), name, net, testInfo(), synthSet(2, 1)); err == nil || !strings.Contains(err.Error(), "plain file name") {
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

// TestExportRefusesUnrebuildable: a network that models.New cannot
// rebuild, or with a layer the format lacks, is not exported.
func TestExportRefusesUnrebuildable(t *testing.T) {
	net := newNet(t, models.BSS2MNISTKind, 1)
	net.Analog()[2].Place.Column = 100
	_, err := Export(t.TempDir(), "net", net, testInfo(), synthSet(2, 1))
	if err == nil || !strings.Contains(err.Error(), `"placement"`) {
		t.Errorf("moved layer: error %v, want one naming the placement", err)
	}

	net = newNet(t, models.MLPKind, 1)
	net.Layers = append(net.Layers, layers.NewBias("b", 10, net.Backend))
	_, err = Export(t.TempDir(), "net", net, testInfo(), synthSet(2, 1))
	if err == nil || !strings.Contains(err.Error(), "bias") {
		t.Errorf("bias layer: error %v, want a refusal naming it", err)
	}
}

// blockClampNet is an MLP whose first layer saturates its first 128-row
// block and pulls its second block negative on a white image, so that
// clamping each block before adding (rather than only the sum) shows.
func blockClampNet(t testing.TB) *models.Network {
	net := newNet(t, models.MLPKind, 13)
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

// whiteFirst returns synthSet(n, seed) with image 0 all white.
func whiteFirst(n int, seed uint64) *mnist.Set {
	s := synthSet(n, seed)
	for i := range 784 {
		s.Images[i] = 255
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
	weights := map[string][]int8{}
	for _, a := range net.Analog() {
		weights[a.Name] = a.QuantizedWeights(nil)
	}
	got, err := m.Infer(weights, whiteFirst(1, 1).Image(0))
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
// ordinary images, saturating ones and blank ones.
func TestInferMatchesDevice(t *testing.T) {
	for _, kind := range models.Kinds {
		net := newNet(t, kind, 11)
		m, _ := exportTo(t, t.TempDir(), net, synthSet(2, 1))
		set := synthSet(30, 5)
		for i := range 784 {
			set.Images[i] = 255 // saturates
			set.Images[784+i] = 0
		}
		weights := map[string][]int8{}
		for _, a := range net.Analog() {
			weights[a.Name] = a.QuantizedWeights(nil)
		}
		want := idealLogits(t, net, set)
		sat := 0
		for i := range set.N {
			got, err := m.Infer(weights, set.Image(i))
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range got.Logits {
				if float32(v) != want[i*10+j] {
					t.Fatalf("%s image %d logit %d: Infer %d, device %g", kind, i, j, v, want[i*10+j])
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
			t.Errorf("%s: no output saturated: the clamps went untested", kind)
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
	for _, kind := range models.Kinds {
		t.Run(kind, func(t *testing.T) {
			set := synthSet(150, 3)
			net := newNet(t, kind, 8)
			checkAccuracyRoundTrip(ctx, t, net, set, 0)
		})
	}
}

func checkAccuracyRoundTrip(ctx context.Context, t *testing.T, net *models.Network, set *mnist.Set, minAcc float64) {
	acc, err := IdealAccuracy(ctx, net, set, 64)
	if err != nil {
		t.Fatal(err)
	}
	if acc < minAcc {
		t.Fatalf("ideal accuracy %g", acc)
	}
	info := testInfo()
	info.IdealAccuracy, info.IdealSamples = acc, set.N
	path := filepath.Join(t.TempDir(), "acc.json")
	if _, err := Export(filepath.Dir(path), "acc", net, info, set); err != nil {
		t.Fatal(err)
	}
	imp, m, err := Import(path)
	if err != nil {
		t.Fatal(err)
	}
	// Evaluated independently of CheckAccuracy, with another batch size.
	imp.Use(analogmac.NewIdeal())
	gr, err := imp.NewGraph(50, false)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	got, err := Accuracy(ctx, gr, set)
	if err != nil {
		t.Fatal(err)
	}
	if got != m.IdealAccuracy {
		t.Errorf("imported network: accuracy %g, manifest records %g", got, m.IdealAccuracy)
	}
	if _, err := m.CheckAccuracy(ctx, imp, set, 64); err != nil {
		t.Errorf("CheckAccuracy: %v", err)
	}
	m.IdealAccuracy += 1.0 / float64(set.N)
	if _, err := m.CheckAccuracy(ctx, imp, set, 64); err == nil || !strings.Contains(err.Error(), "manifest records") {
		t.Errorf("CheckAccuracy with a wrong record: error %v", err)
	}
	t.Logf("ideal accuracy %.4f on %d images reproduced", acc, set.N)
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
	checkAccuracyRoundTrip(ctx, t, newNet(t, models.BSS2MNISTKind, 1), data.Test, 0)
}

// tamper mutates an export in dir (manifest dir/net.json).
type tamper func(t *testing.T, dir string)

func TestImportRefuses(t *testing.T) {
	net := newNet(t, models.BSS2MNISTKind, 6)
	src := t.TempDir()
	exportTo(t, src, net, synthSet(8, 4))
	members := func() []npyMember {
		var ms []npyMember
		for _, a := range net.Analog() {
			ms = append(ms, npyMember{key: a.Name + ".weight", rows: a.In, cols: a.Out, data: a.QuantizedWeights(nil)})
		}
		return ms
	}
	cases := []struct {
		name string
		do   tamper
		want []string // every one must appear in the error; nil: must import
	}{
		{"untouched", func(*testing.T, string) {}, nil},
		{"npz rewritten identically", func(t *testing.T, d string) { writeNPZ(t, d, members()) }, nil},
		{"missing manifest", func(t *testing.T, d string) { rm(t, d, "net.json") }, []string{"net.json", "no such file"}},
		{"missing npz", func(t *testing.T, d string) { rm(t, d, "net.npz") }, []string{"net.npz", "no such file"}},
		{"npz tampered", func(t *testing.T, d string) {
			b := read(t, d, "net.npz")
			b[200] ^= 1
			write(t, d, "net.npz", b)
		}, []string{"net.npz", "SHA-256", "changed or corrupted"}},
		{"byte flipped in array data, sha updated", func(t *testing.T, d string) {
			b := read(t, d, "net.npz")
			i := bytes.Index(b, []byte("\x93NUMPY"))
			b[i+128+37] ^= 0x01 // inside conv.weight's data (its header is 128 bytes)
			write(t, d, "net.npz", b)
			setSHA(t, d)
		}, []string{"net.npz", "conv.weight.npy", "corrupted", "checksum"}},
		{"zip directory damaged, sha updated", func(t *testing.T, d string) {
			b := read(t, d, "net.npz")
			write(t, d, "net.npz", b[:len(b)-10])
			setSHA(t, d)
		}, []string{"net.npz", "not a valid npz"}},
		{"not json", func(t *testing.T, d string) { write(t, d, "net.json", []byte("{\"format_version\": 1,")) }, []string{"net.json", "not a manifest"}},
		{"unknown format version", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["format_version"] = 2 }) },
			[]string{"net.json", "format_version 2", "only version 1"}},
		{"no format version", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { delete(m, "format_version") }) },
			[]string{"no format_version"}},
		{"unknown field", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["bias"] = []int{1} }) },
			[]string{"net.json", "unknown field", "bias"}},
		{"semantics changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["semantics"].(map[string]any)["block_rows"] = 64 })
		}, []string{"net.json", "semantics"}},
		{"input rule changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["input"].(map[string]any)["divisor"] = 4 })
		}, []string{"net.json", "input rule", "divisor 4"}},
		{"weights path escapes", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["weights"].(map[string]any)["file"] = "../net.npz" })
		}, []string{"net.json", "base name"}},
		{"wrong shape", func(t *testing.T, d string) {
			ms := members()
			ms[2].rows, ms[2].cols = ms[2].cols, ms[2].rows
			writeNPZ(t, d, ms)
		}, []string{"net.npz", "dense2.weight", "shape (10,128)", "want (128,10)"}},
		{"weight out of range", func(t *testing.T, d string) {
			ms := members()
			ms[1].data[5*128+7] = 64
			writeNPZ(t, d, ms)
		}, []string{"net.npz", "dense1.weight", "[5][7] = 64", "-63..63"}},
		{"weight -64", func(t *testing.T, d string) {
			ms := members()
			ms[0].data[0] = -64
			writeNPZ(t, d, ms)
		}, []string{"conv.weight", "= -64"}},
		{"missing array", func(t *testing.T, d string) { writeNPZ(t, d, members()[:2]) }, []string{"net.npz", "dense2.weight", "missing"}},
		{"extra array", func(t *testing.T, d string) {
			writeNPZ(t, d, append(members(), npyMember{key: "extra", rows: 1, cols: 1, data: []int8{0}}))
		}, []string{"net.npz", "extra.npy"}},
		{"wrong dtype", func(t *testing.T, d string) {
			writeRawNPZ(t, d, members(), "dense2.weight", func(h []byte) []byte { return bytes.Replace(h, []byte("|i1"), []byte("<i2"), 1) })
		}, []string{"dense2.weight", `dtype "<i2"`}},
		{"fortran order", func(t *testing.T, d string) {
			writeRawNPZ(t, d, members(), "conv.weight", func(h []byte) []byte { return bytes.Replace(h, []byte("False"), []byte("True "), 1) })
		}, []string{"conv.weight", "fortran_order True"}},
		{"not npy", func(t *testing.T, d string) {
			writeRawNPZ(t, d, members(), "conv.weight", func(h []byte) []byte { return append([]byte("PK"), h[2:]...) })
		}, []string{"conv.weight", "magic"}},
		{"layer sends changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 3)["sends"] = 9 })
		}, []string{"net.json", "layer 3 (dense dense1)", `"sends" is 9`}},
		{"layer kernel changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 0)["kernel"] = 9 })
		}, []string{"layer 0 (conv2d conv)", `"kernel"`}},
		{"layer removed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["layers"] = m["layers"].([]any)[:5] })
		}, []string{"layer list", "5 layers in the manifest", "has 6"}},
		{"tiles changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { layer(m, 3)["tiles"].([]any)[0].(map[string]any)["phys_col"] = 0 })
		}, []string{"dense1", `"tiles"`}},
		{"shift changed in config", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["model"].(map[string]any)["config"].(map[string]any)["shift"] = 2 })
		}, []string{"layer 1 (converting_relu", `"shift"`}},
		{"sends changed in layers and config", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) {
				layer(m, 5)["sends"] = 1
				m["model"].(map[string]any)["config"].(map[string]any)["sends"].([]any)[2] = 1
			})
		}, []string{"reference", "do not reproduce", "dense2"}},
		{"gain changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) {
				m["gain_per_send"] = 0.003
				for _, i := range []int{0, 3, 5} {
					layer(m, i)["gain_per_send"] = 0.003
				}
			})
		}, []string{"reference", "do not reproduce"}},
		{"unknown model", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { m["model"].(map[string]any)["kind"] = "resnet" })
		},
			[]string{"unknown model", "resnet"}},
		{"reference output changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { bump(ref(m, 2)["outputs"].([]any)[1].(map[string]any)["values"].([]any), 5) })
		}, []string{"net.json", "reference 2", "layer dense1 output [0][5]"}},
		{"reference logit changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { bump(ref(m, 4)["logits"].([]any), 3) })
		}, []string{"reference 4", "logit [3]"}},
		{"reference class changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { r := ref(m, 1); r["predicted"] = (asInt(r["predicted"]) + 1) % 10 })
		}, []string{"reference 1", "predicted class"}},
		{"reference pixels changed", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) {
				px := ref(m, 0)["pixels"].([]any)
				for i := range px {
					px[i] = 0
				}
			})
		}, []string{"reference 0", "do not reproduce"}},
		{"reference pixel out of range", func(t *testing.T, d string) {
			edit(t, d, func(m map[string]any) { ref(m, 0)["pixels"].([]any)[3] = 256 })
		}, []string{"reference 0", "pixel 3 = 256"}},
		{"no references", func(t *testing.T, d string) { edit(t, d, func(m map[string]any) { m["references"] = []any{} }) },
			[]string{"no reference vectors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"net.json", "net.npz"} {
				write(t, dir, f, read(t, src, f))
			}
			c.do(t, dir)
			_, _, err := Import(filepath.Join(dir, "net.json"))
			if c.want == nil {
				if err != nil {
					t.Fatalf("Import: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Import accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func read(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func rm(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// edit rewrites the manifest through a generic map (numbers kept exact).
func edit(t *testing.T, dir string, f func(map[string]any)) {
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

func layer(m map[string]any, i int) map[string]any { return m["layers"].([]any)[i].(map[string]any) }
func ref(m map[string]any, i int) map[string]any   { return m["references"].([]any)[i].(map[string]any) }

func asInt(v any) int {
	n, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		panic(err)
	}
	return n
}

// bump changes list[i] by one, staying inside int8.
func bump(list []any, i int) {
	v := asInt(list[i])
	if v < 127 {
		list[i] = v + 1
	} else {
		list[i] = v - 1
	}
}

// setSHA records the npz's current SHA-256 and size in the manifest, as a
// forger would.
func setSHA(t *testing.T, dir string) {
	t.Helper()
	b := read(t, dir, "net.npz")
	sum := sha256.Sum256(b)
	edit(t, dir, func(m map[string]any) {
		w := m["weights"].(map[string]any)
		w["sha256"] = hex.EncodeToString(sum[:])
		w["bytes"] = len(b)
	})
}

// writeNPZ replaces the npz by the given members and updates the manifest.
func writeNPZ(t *testing.T, dir string, ms []npyMember) {
	t.Helper()
	b, err := encodeNPZ(ms)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "net.npz", b)
	setSHA(t, dir)
}

// writeRawNPZ writes the members with the .npy bytes of key passed through
// f, then updates the manifest.
func writeRawNPZ(t *testing.T, dir string, ms []npyMember, key string, f func([]byte) []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		b := append(npyInt8Header(m.rows, m.cols), i8bytes(m.data)...)
		if m.key == key {
			b = f(b)
		}
		w, err := zw.Create(m.key + ".npy")
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

func i8bytes(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// TestParseNPYHeaders covers header forms numpy itself may write.
func TestParseNPYHeaders(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 0xff}
	v2 := func(dict string) []byte {
		b := append([]byte("\x93NUMPY\x02\x00"), binary.LittleEndian.AppendUint32(nil, uint32(len(dict)))...)
		return append(append(b, dict...), data...)
	}
	ok := []string{
		"{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }\n",
		"{\"shape\": (2,3), \"descr\": \"<i1\", \"fortran_order\": False}   \n",
	}
	for _, d := range ok {
		w, err := parseInt8NPY(v2(d), 2, 3)
		if err != nil || fmt.Sprint(w) != "[1 2 3 4 5 -1]" {
			t.Errorf("%q: %v %v", d, w, err)
		}
	}
	bad := map[string]string{
		"{'descr': '|i1', 'fortran_order': False, 'shape': (6,), }":             "shape (6)",
		"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }":           `dtype "|u1"`,
		"{'descr': '|i1', 'shape': (2, 3), }":                                   "fortran_order",
		"{'descr': '|i1', 'fortran_order': False, 'shape': (2, x), }":           "not an integer",
		"{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}": "4 keys",
		"['descr']": "not a dict",
	}
	for d, want := range bad {
		if _, err := parseInt8NPY(v2(d), 2, 3); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", d, err, want)
		}
	}
	if _, err := parseInt8NPY(v2(ok[0])[:20], 2, 3); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated header: %v", err)
	}
	short := append(npyInt8Header(2, 3), data[:5]...)
	if _, err := parseInt8NPY(short, 2, 3); err == nil || !strings.Contains(err.Error(), "5 data bytes") {
		t.Errorf("short data: %v", err)
	}
}

// pythonWithNumpy returns a Python interpreter that can import numpy
// ($PYTHON, python3 on the PATH, then /usr/bin/python3, where Debian's
// python3-numpy goes), or skips the test.
func pythonWithNumpy(t *testing.T) string {
	t.Helper()
	for _, py := range []string{os.Getenv("PYTHON"), "python3", "/usr/bin/python3"} {
		if py != "" && exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no python3 with numpy: .ci/run installs python3-numpy")
	}
	t.Skip("no python3 with numpy (Debian: apt-get install python3-numpy; or set $PYTHON)")
	return ""
}

// TestNumpyLoadsExport: numpy itself reads the npz as int8 (in, out)
// arrays with the exported values.
func TestNumpyLoadsExport(t *testing.T) {
	py := pythonWithNumpy(t)
	net := newNet(t, models.BSS2MNISTKind, 4)
	dir := t.TempDir()
	exportTo(t, dir, net, synthSet(2, 1))
	script := `
import sys, numpy as np
z = np.load(sys.argv[1])
for k in sorted(z.files):
    a = z[k]
    print(k, a.dtype.str, a.shape, int(a.astype(np.int64).sum()), int(a[0, -1]))
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
		want = append(want, fmt.Sprintf("%s.weight |i1 (%d, %d) %d %d", a.Name, a.In, a.Out, s, q[a.Out-1]))
	}
	if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
		t.Errorf("numpy read\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// TestDocsNumpySnippet runs the numpy code of docs/inference.md on fresh
// exports: it must reproduce every reference vector and the recorded
// ideal accuracy, and must notice a changed reference.
func TestDocsNumpySnippet(t *testing.T) {
	py := pythonWithNumpy(t)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "inference.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/inference.md has no python block")
	}
	script := filepath.Join(t.TempDir(), "infer.py")
	if err := os.WriteFile(script, m[1], 0o644); err != nil {
		t.Fatal(err)
	}
	nets := map[string]*models.Network{"block-clamp": blockClampNet(t)}
	for _, kind := range models.Kinds {
		nets[kind] = newNet(t, kind, 12)
	}
	// accuracy.py evaluates a set with the snippet's infer().
	accScript := filepath.Join(filepath.Dir(script), "accuracy.py")
	if err := os.WriteFile(accScript, []byte(`
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("infer", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
m, weights = mod.load(sys.argv[2])
images = np.fromfile(sys.argv[3], dtype=np.uint8).reshape(-1, 784)
labels = np.fromfile(sys.argv[4], dtype=np.uint8)
correct = sum(mod.infer(m, weights, img)[2] == int(l) for img, l in zip(images, labels))
print("correct", correct, "of", len(labels))
`), 0o644); err != nil {
		t.Fatal(err)
	}
	set := synthSet(120, 21)
	write(t, filepath.Dir(script), "images.u8", set.Images)
	write(t, filepath.Dir(script), "labels.u8", set.Labels)
	for kind, net := range nets {
		dir := t.TempDir()
		acc, err := IdealAccuracy(context.Background(), net, set, 60)
		if err != nil {
			t.Fatal(err)
		}
		info := testInfo()
		info.IdealAccuracy, info.IdealSamples = acc, set.N
		if _, err := Export(dir, "net", net, info, whiteFirst(8, 6)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "net.json")
		out, err := exec.Command(py, accScript, script, path, filepath.Join(filepath.Dir(script), "images.u8"),
			filepath.Join(filepath.Dir(script), "labels.u8")).CombinedOutput()
		if want := fmt.Sprintf("correct %d of %d", int(math.Round(acc*float64(set.N))), set.N); err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: numpy accuracy: %v %q, want %q (ideal_accuracy)", kind, err, out, want)
		}
		t.Logf("%s: numpy %s", kind, bytes.TrimSpace(out))
		out, err = exec.Command(py, script, path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "all 8 reference vectors reproduced") {
			t.Errorf("%s: docs snippet: %v\n%s", kind, err, out)
		}
		edit(t, dir, func(m map[string]any) { bump(ref(m, 3)["logits"].([]any), 2) })
		out, err = exec.Command(py, script, path).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "reference 3") {
			t.Errorf("%s: docs snippet accepted a changed logit: %v\n%s", kind, err, out)
		}
	}
}
