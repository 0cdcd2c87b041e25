package export

// An export is two files in one directory: NAME.npz, one int8 array per
// analog layer as numpy's np.load reads it, and NAME.json, the manifest
// (type Manifest) that says everything needed to run the integer inference
// again: the layers in order, the input scaling, the tiling onto the
// synapse array, the gain, and reference vectors computed on the ideal
// device. docs/inference.md writes the integer semantics down.

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
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/internal/atomicfile"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// FormatVersion is the version of the export format Export writes and the
// only one Import accepts. It changes whenever a field's meaning changes.
const FormatVersion = 2

// ExportCreator is the manifest's created_by.
const ExportCreator = "analogloop"

// MaxReferences is the number of images of the refs set (its first ones)
// whose outputs Export records as reference vectors.
const MaxReferences = 8

// Rule texts written into every manifest; docs/inference.md explains them.
const (
	InputRule      = "x = pixel >> 3, 0..31"
	InputLayout    = "row-major HWC: pixel (y, x, c) at index (y*W + x)*C + c"
	ProductRule    = "per tile (rows [row0,row1) x columns [col0,col1) of the weight matrix): t[c] = clamp(floor(k * sum_{r in [row0,row1)} x[r]*w[r,c]), -128, 127) with k = gain_per_send * sends computed in float64 first; y[c] = clamp(sum of t[c] over the row tiles, -128, 127)"
	ActivationRule = "converting_relu: x = clamp(floor(clamp(y, 0, 127) / 2^shift), 0, 31)"
	FlattenRule    = "(rows, features) -> (rows*features/out, out) row-major: a conv output (patch p, channel c) goes to index p*C + c"
	ClassRule      = "class = argmax of the last layer's int8 outputs; ties go to the lowest index"
	WeightLayout   = "int8, shape (in, out), row-major (C order): w[r, c] multiplies input r into output c"
	ConvLayout     = WeightLayout + "; conv2d input r = (ky*kernel + kx)*C + c_in, output c = output channel"
	ConvInputRule  = "im2col: output position (oy, ox), patch index p = oy*out_w + ox, reads input (oy*stride - padding + ky, ox*stride - padding + kx, c_in), zero outside the image, into row (ky*kernel + kx)*C + c_in"
)

// AccuracyStats is an accuracy measured over repeated trials on a noisy
// device (one trial on a deterministic one).
type AccuracyStats struct {
	Mean   float64   `json:"mean"`
	Std    float64   `json:"std"`
	Trials []float64 `json:"trials"`
}

// Info is what the caller knows about the network being exported.
type Info struct {
	Dataset string // "mnist", "fashion-mnist", "yinyang", ...
	// Device is the device Accuracy was measured on.
	Device   analogmac.Spec
	Accuracy AccuracyStats
	// IdealAccuracy is the accuracy of the same integer weights on
	// IdealDevice(net) over the whole test set (see IdealAccuracy): being
	// deterministic, it is what an imported network reproduces.
	IdealAccuracy float64
	// IdealSamples is the size of the set IdealAccuracy was measured on
	// (0: unknown).
	IdealSamples int
	Note         string
}

// Manifest is the JSON half of an export. Every field is written by
// Export and checked by Import.
type Manifest struct {
	FormatVersion int    `json:"format_version"` // FormatVersion
	CreatedBy     string `json:"created_by"`     // ExportCreator
	Created       string `json:"created"`        // RFC 3339, UTC; informative only

	// Model is the network's resolved description: models.Build rebuilds
	// it for Input and Classes.
	Model   models.Spec   `json:"model"`
	Classes int           `json:"classes"`
	Input   ManifestInput `json:"input"`
	// GainPerSend is the gain of the ideal device the reference vectors
	// and ideal_accuracy were computed with (output LSB per unit of
	// input x weight and per send).
	GainPerSend float64           `json:"gain_per_send"`
	Semantics   ManifestSemantics `json:"semantics"`
	// Layers lists every layer in the order it is applied.
	Layers  []ManifestLayer `json:"layers"`
	Weights ManifestWeights `json:"weights"`

	Dataset  string         `json:"dataset"`
	Device   analogmac.Spec `json:"device"`   // the device the accuracy was measured on
	Accuracy AccuracyStats  `json:"accuracy"` // on Device
	// IdealAccuracy is the accuracy on the ideal device over
	// IdealSamples test images: what evaluating an import reproduces.
	IdealAccuracy float64 `json:"ideal_accuracy"`
	IdealSamples  int     `json:"ideal_samples"`
	Note          string  `json:"note,omitempty"`

	// References are test images with the exact outputs of the ideal
	// device: a reimplementation must reproduce every value.
	References []Reference `json:"references"`
}

// ManifestInput says how a raw image becomes the first layer's input.
type ManifestInput struct {
	Height   int    `json:"height"`
	Width    int    `json:"width"`
	Channels int    `json:"channels"`
	Layout   string `json:"layout"`  // InputLayout
	Rule     string `json:"rule"`    // InputRule
	Divisor  int    `json:"divisor"` // x = floor(pixel / divisor)
	Max      int    `json:"max"`     // largest input value, analogmac.InputMax
}

// ManifestSemantics states the integer data path in words and numbers.
type ManifestSemantics struct {
	Product    string `json:"product"`    // ProductRule
	Activation string `json:"activation"` // ActivationRule
	Flatten    string `json:"flatten"`    // FlattenRule
	Class      string `json:"class"`      // ClassRule
	BlockRows  int    `json:"block_rows"` // rows of one tile, analogmac.BlockRows
	BlockCols  int    `json:"block_cols"` // columns of one tile, analogmac.BlockCols
	ArrayCols  int    `json:"array_cols"` // physical columns, analogmac.ArrayCols
	InputMax   int    `json:"input_max"`
	WeightMax  int    `json:"weight_max"`
	OutputMin  int    `json:"output_min"`
	OutputMax  int    `json:"output_max"`
}

// ManifestLayer is one layer. Fields that do not apply to its type are
// left out.
type ManifestLayer struct {
	Type string `json:"type"` // "conv2d", "dense", "converting_relu", "flatten"
	Name string `json:"name,omitempty"`
	In   int    `json:"in,omitempty"`  // analog: input rows; conv2d: kernel*kernel*C
	Out  int    `json:"out,omitempty"` // analog: output columns; flatten: values per row after it
	// conv2d only
	InputHWC []int  `json:"input_hwc,omitempty"`
	Kernel   int    `json:"kernel,omitempty"`
	Stride   int    `json:"stride,omitempty"`
	Padding  *int   `json:"padding,omitempty"`
	OutputHW []int  `json:"output_hw,omitempty"` // (out_h, out_w); patches = out_h*out_w
	Im2Col   string `json:"im2col,omitempty"`    // ConvInputRule
	// analog layers (conv2d, dense)
	Sends     int                  `json:"sends,omitempty"`
	Placement *analogmac.Placement `json:"placement,omitempty"`
	Tiles     []analogmac.Tile     `json:"tiles,omitempty"`   // analogmac.Tiles(in, out, placement)
	Weights   string               `json:"weights,omitempty"` // np.load key; the zip member is KEY.npy
	Shape     []int                `json:"shape,omitempty"`   // (in, out)
	DType     string               `json:"dtype,omitempty"`   // "int8"
	Layout    string               `json:"layout,omitempty"`
	// converting_relu only
	Shift *int   `json:"shift,omitempty"`
	Rule  string `json:"rule,omitempty"`
}

// ManifestWeights names the .npz beside the manifest and pins its bytes.
type ManifestWeights struct {
	File   string `json:"file"` // base name, in the manifest's directory
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Reference is one test image and the ideal device's exact outputs for it.
type Reference struct {
	Index  int   `json:"index"`  // position in the set it was taken from
	Label  int   `json:"label"`  // true class
	Pixels []int `json:"pixels"` // raw 0..255 pixels, Input.Layout order
	// Outputs holds every analog layer's int8 output (before its
	// activation), in layer order.
	Outputs   []LayerOutput `json:"outputs"`
	Logits    []int         `json:"logits"`    // the last layer's outputs
	Predicted int           `json:"predicted"` // argmax of Logits, lowest index on ties
}

// LayerOutput is one analog layer's output for one image: Shape is (rows,
// out), rows being the patches of a conv2d and 1 for a dense layer;
// Values are row-major.
type LayerOutput struct {
	Layer  string `json:"layer"`
	Shape  []int  `json:"shape"`
	Values []int  `json:"values"`
}

// IdealDevice returns the noise-free device with the gain net is designed
// for: the device the reference vectors and ideal accuracy of an export
// are computed on.
func IdealDevice(net *models.Network) *analogmac.Ideal {
	return &analogmac.Ideal{GainPerSend: net.GainPerSend}
}

// evalBatch is the batch of the ideal-device evaluations.
const evalBatch = 500

// IdealAccuracy evaluates net on IdealDevice(net) over set: the value
// Info.IdealAccuracy wants.
func IdealAccuracy(ctx context.Context, net *models.Network, set *datasets.Set) (float64, error) {
	return accuracyOn(ctx, net, IdealDevice(net), set)
}

func accuracyOn(ctx context.Context, net *models.Network, d analogmac.Device, set *datasets.Set) (float64, error) {
	gr, err := net.NewGraph(models.GraphOptions{Batch: min(evalBatch, set.N), On: d})
	if err != nil {
		return 0, err
	}
	defer gr.Close()
	n, err := gr.Correct(ctx, set, nil, nil)
	if err != nil {
		return 0, err
	}
	return float64(n) / float64(set.N), nil
}

// CheckAccuracy evaluates net (as returned by Import) on the ideal device
// over the first IdealSamples samples of test, the subset the manifest's
// ideal_accuracy was measured on, and returns an error unless the result is
// that accuracy: the same number of correctly classified samples.
func (m *Manifest) CheckAccuracy(ctx context.Context, net *models.Network, test *datasets.Set) (float64, error) {
	if m.IdealSamples < 1 || test.N < m.IdealSamples {
		return 0, fmt.Errorf("export: ideal accuracy was measured on the first %d samples, the set has %d", m.IdealSamples, test.N)
	}
	set := test.Head(m.IdealSamples)
	acc, err := accuracyOn(ctx, net, &analogmac.Ideal{GainPerSend: m.GainPerSend}, set)
	if err != nil {
		return 0, err
	}
	if math.Abs(acc-m.IdealAccuracy)*float64(set.N) >= 0.5 {
		return acc, fmt.Errorf("export: accuracy on the ideal device is %.6f (%d of %d), the manifest records %.6f",
			acc, int(math.Round(acc*float64(set.N))), set.N, m.IdealAccuracy)
	}
	return acc, nil
}

// Export writes dir/name.npz and dir/name.json, each atomically (a
// temporary file in dir, then a rename; the npz first), and returns the
// manifest. The first MaxReferences samples of refs become the reference
// vectors, computed on IdealDevice(net). Export only reads net.
func Export(dir, name string, net *models.Network, info Info, refs *datasets.Set) (*Manifest, error) {
	if err := checkExportName(name); err != nil {
		return nil, err
	}
	if refs == nil || refs.N < 1 {
		return nil, fmt.Errorf("export %s: no reference samples", name)
	}
	if err := net.CheckSet(refs); err != nil {
		return nil, fmt.Errorf("export %s: reference samples: %w", name, err)
	}
	ideal := IdealDevice(net)
	in := net.Input
	m := &Manifest{
		FormatVersion: FormatVersion,
		CreatedBy:     ExportCreator,
		Created:       time.Now().UTC().Format(time.RFC3339),
		Model:         net.Spec,
		Classes:       net.Classes,
		Input: ManifestInput{Height: in.Height, Width: in.Width, Channels: in.Channels, Layout: InputLayout, Rule: InputRule,
			Divisor: 8, Max: analogmac.InputMax},
		GainPerSend:   ideal.GainPerSend,
		Semantics:     defaultSemantics(),
		Dataset:       info.Dataset,
		Device:        info.Device,
		Accuracy:      info.Accuracy,
		IdealAccuracy: info.IdealAccuracy,
		IdealSamples:  info.IdealSamples,
		Note:          info.Note,
	}
	if m.Accuracy.Trials == nil {
		m.Accuracy.Trials = []float64{}
	}
	var err error
	if m.Layers, err = describeLayers(net); err != nil {
		return nil, fmt.Errorf("export: export %s: %w", name, err)
	}
	// What Import will rebuild must be what is exported.
	if err := checkRebuild(m); err != nil {
		return nil, fmt.Errorf("export: export %s: %w", name, err)
	}

	weights := map[string][]int8{}
	var members []npyMember
	for _, a := range net.Analog() {
		q := a.QuantizedWeights(nil)
		weights[a.Name] = q
		members = append(members, npyMember{key: a.Name + ".weight", rows: a.In, cols: a.Out, data: q})
	}
	npz, err := encodeNPZ(members)
	if err != nil {
		return nil, fmt.Errorf("export: export %s: %w", name, err)
	}
	sum := sha256.Sum256(npz)
	m.Weights = ManifestWeights{File: name + ".npz", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(npz))}

	nref := min(refs.N, MaxReferences)
	pixels := refs.Samples[:nref*refs.Values()]
	outs, err := net.Trace(context.Background(), ideal, pixels, nref, nil)
	if err != nil {
		return nil, fmt.Errorf("export: export %s: reference vectors: %w", name, err)
	}
	for i := range nref {
		r := Reference{Index: i, Label: int(refs.Labels[i]), Pixels: ints(refs.Sample(i))}
		for j, a := range net.Analog() {
			rows := len(outs[j]) / nref / a.Out
			vals := outs[j][i*rows*a.Out : (i+1)*rows*a.Out]
			r.Outputs = append(r.Outputs, LayerOutput{Layer: a.Name, Shape: []int{rows, a.Out}, Values: ints(vals)})
		}
		r.Logits = slices.Clone(r.Outputs[len(r.Outputs)-1].Values)
		r.Predicted = argmax(r.Logits)
		m.References = append(m.References, r)
	}
	// Self-checks: the network's graph and the manifest-only integer
	// inference (the documented semantics) must agree with the layer walk.
	if err := checkGraph(net, m.References); err != nil {
		return nil, fmt.Errorf("export: export %s: %w", name, err)
	}
	for i, r := range m.References {
		got, err := m.Infer(weights, refs.Sample(i))
		if err != nil {
			return nil, fmt.Errorf("export: export %s: %w", name, err)
		}
		if err := compareReference(r, got); err != nil {
			return nil, fmt.Errorf("export: export %s: the manifest's integer semantics disagree with the network (a bug): %w", name, err)
		}
	}

	js, err := encodeManifest(m)
	if err != nil {
		return nil, fmt.Errorf("export: export %s: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: export: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, m.Weights.File), npz); err != nil {
		return nil, fmt.Errorf("export: export: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, name+".json"), js); err != nil {
		return nil, fmt.Errorf("export: export: %w", err)
	}
	return m, nil
}

// Import reads the manifest at manifestPath and the npz it names, checks
// them (format version, the npz's SHA-256, every array's name, shape,
// dtype and range, the layer list against the network models.New rebuilds
// from the recorded kind and config), loads the weights and replays the
// reference vectors on the ideal device. Any difference is an error that
// names the file and what differs. The network returned is on an ideal
// device with the manifest's gain.
func Import(manifestPath string) (*models.Network, *Manifest, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("export: import %s: %s", manifestPath, fmt.Sprintf(format, args...))
	}
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, nil, fmt.Errorf("export: import: %w", err)
	}
	// The version is read on its own first, so that a newer format is
	// named as such rather than as an unknown field.
	var head struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, nil, fail("not a manifest: %v", err)
	}
	if head.FormatVersion == nil {
		return nil, nil, fail("no format_version: not an analogloop export manifest")
	}
	if *head.FormatVersion != FormatVersion {
		return nil, nil, fail("format_version %d: this build reads only version %d", *head.FormatVersion, FormatVersion)
	}
	m := new(Manifest)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return nil, nil, fail("manifest: %v", err)
	}
	if m.CreatedBy != ExportCreator {
		return nil, nil, fail("created_by %q: want %q", m.CreatedBy, ExportCreator)
	}
	if err := checkManifestConstants(m); err != nil {
		return nil, nil, fail("%v", err)
	}

	// The weights: same directory, pinned by SHA-256.
	if err := checkExportName(strings.TrimSuffix(m.Weights.File, ".npz")); err != nil || !strings.HasSuffix(m.Weights.File, ".npz") {
		return nil, nil, fail("weights file %q: want a base name ending in .npz", m.Weights.File)
	}
	npzPath := filepath.Join(filepath.Dir(manifestPath), m.Weights.File)
	npz, err := os.ReadFile(npzPath)
	if err != nil {
		return nil, nil, fail("weights: %v", err)
	}
	sum := sha256.Sum256(npz)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(m.Weights.SHA256) {
		return nil, nil, fail("%s: SHA-256 is %s, the manifest records %s: the file was changed or corrupted", npzPath, got, m.Weights.SHA256)
	}
	if int64(len(npz)) != m.Weights.Bytes {
		return nil, nil, fail("%s: %d bytes, the manifest records %d", npzPath, len(npz), m.Weights.Bytes)
	}

	// The layer list must be what the recorded kind and config build.
	if err := checkRebuild(m); err != nil {
		return nil, nil, fail("%v", err)
	}
	net, err := buildNet(m)
	if err != nil {
		return nil, nil, fail("model: %v", err)
	}
	ideal := &analogmac.Ideal{GainPerSend: m.GainPerSend}

	want := map[string][2]int{}
	for _, l := range m.Layers {
		if l.Weights != "" {
			want[l.Weights] = [2]int{l.In, l.Out}
		}
	}
	arrays, err := decodeNPZ(npz, want)
	if err != nil {
		return nil, nil, fail("%s: %v", npzPath, err)
	}
	weights := map[string][]int8{}
	for _, a := range net.Analog() {
		q := arrays[a.Name+".weight"]
		w := a.Weights()
		for i, v := range q {
			w[i] = float32(v)
		}
		weights[a.Name] = q
	}

	// Replay the reference vectors on the ideal device.
	if len(m.References) == 0 {
		return nil, nil, fail("no reference vectors: the export cannot be checked")
	}
	per := net.Inputs()
	pixels := make([]uint8, 0, len(m.References)*per)
	for i, r := range m.References {
		if len(r.Pixels) != per {
			return nil, nil, fail("reference %d: %d pixels, want %d", i, len(r.Pixels), per)
		}
		for j, p := range r.Pixels {
			if p < 0 || p > 255 {
				return nil, nil, fail("reference %d: pixel %d = %d: want 0..255", i, j, p)
			}
			pixels = append(pixels, uint8(p))
		}
		if r.Label < 0 || r.Label >= net.Classes {
			return nil, nil, fail("reference %d: label %d: want 0..%d", i, r.Label, net.Classes-1)
		}
	}
	outs, err := net.Trace(context.Background(), ideal, pixels, len(m.References), nil)
	if err != nil {
		return nil, nil, fail("replaying the reference vectors: %v", err)
	}
	for i, r := range m.References {
		got := Inference{}
		for j := range net.Analog() {
			n := len(outs[j]) / len(m.References)
			got.Outputs = append(got.Outputs, outs[j][i*n:(i+1)*n])
		}
		got.Logits = got.Outputs[len(got.Outputs)-1]
		got.Class = argmax(ints(got.Logits))
		if err := compareReference(r, got); err != nil {
			return nil, nil, fail("reference vectors do not reproduce on the ideal device: %v", err)
		}
	}
	if err := checkGraph(net, m.References); err != nil {
		return nil, nil, fail("%v", err)
	}
	return net, m, nil
}

// Inference is the result of running one image through the integer data
// path.
type Inference struct {
	Outputs [][]int8 // each analog layer's output, in order, rows x out row-major
	Logits  []int8   // the last layer's output
	Class   int      // argmax of Logits, lowest index on ties
}

// Infer runs one image (raw pixels, Input.Layout order) through the
// integer inference the manifest describes, using nothing but the
// manifest and the weights (np.load key without ".weight" suffix, i.e.
// the layer name, to its (in, out) row-major int8 matrix). It is the Go
// twin of the numpy code in docs/inference.md, independent of package
// layers and of the devices.
func (m *Manifest) Infer(weights map[string][]int8, pixels []uint8) (Inference, error) {
	in := m.Input
	if len(pixels) != in.Height*in.Width*in.Channels {
		return Inference{}, fmt.Errorf("export: infer: %d pixels, want %d", len(pixels), in.Height*in.Width*in.Channels)
	}
	if in.Divisor < 1 {
		return Inference{}, fmt.Errorf("export: infer: input divisor %d", in.Divisor)
	}
	h := make([]int, len(pixels))
	for i, p := range pixels {
		h[i] = int(p) / in.Divisor
	}
	rows, width := 1, len(h)
	var res Inference
	for li, l := range m.Layers {
		switch l.Type {
		case "conv2d":
			if len(l.InputHWC) != 3 || l.Padding == nil || l.Stride < 1 || l.Kernel < 1 {
				return res, fmt.Errorf("export: infer: layer %d (%s): incomplete conv2d", li, l.Name)
			}
			H, W, C := l.InputHWC[0], l.InputHWC[1], l.InputHWC[2]
			if rows*width != H*W*C {
				return res, fmt.Errorf("export: infer: layer %d (%s): %d inputs, want %d", li, l.Name, rows*width, H*W*C)
			}
			K, S, P := l.Kernel, l.Stride, *l.Padding
			oh, ow := (H+2*P-K)/S+1, (W+2*P-K)/S+1
			cols := make([]int, oh*ow*K*K*C)
			for oy := range oh {
				for ox := range ow {
					patch := cols[(oy*ow+ox)*K*K*C:]
					for ky := range K {
						for kx := range K {
							iy, ix := oy*S-P+ky, ox*S-P+kx
							if iy < 0 || iy >= H || ix < 0 || ix >= W {
								continue
							}
							for c := range C {
								patch[(ky*K+kx)*C+c] = h[(iy*W+ix)*C+c]
							}
						}
					}
				}
			}
			y, err := m.product(l, weights, cols, oh*ow)
			if err != nil {
				return res, err
			}
			res.Outputs = append(res.Outputs, y)
			h, rows, width = ints(y), oh*ow, l.Out
		case "dense":
			if rows*width != l.In {
				return res, fmt.Errorf("export: infer: layer %d (%s): %d inputs, want %d", li, l.Name, rows*width, l.In)
			}
			y, err := m.product(l, weights, h, 1)
			if err != nil {
				return res, err
			}
			res.Outputs = append(res.Outputs, y)
			h, rows, width = ints(y), 1, l.Out
		case "converting_relu":
			if l.Shift == nil {
				return res, fmt.Errorf("export: infer: layer %d: converting_relu without shift", li)
			}
			for i, v := range h {
				h[i] = min(m.Semantics.InputMax, max(0, min(m.Semantics.OutputMax, v))>>*l.Shift)
			}
		case "flatten":
			if l.Out < 1 || (rows*width)%l.Out != 0 {
				return res, fmt.Errorf("export: infer: layer %d: flatten %dx%d into rows of %d", li, rows, width, l.Out)
			}
			rows, width = rows*width/l.Out, l.Out
		default:
			return res, fmt.Errorf("export: infer: layer %d: unknown type %q", li, l.Type)
		}
	}
	if len(res.Outputs) == 0 {
		return res, fmt.Errorf("export: infer: no analog layer")
	}
	res.Logits = res.Outputs[len(res.Outputs)-1]
	res.Class = argmax(ints(res.Logits))
	return res, nil
}

// product computes rows input vectors x (rows x In) through layer l's
// weights tile by tile, as ProductRule says.
func (m *Manifest) product(l ManifestLayer, weights map[string][]int8, x []int, rows int) ([]int8, error) {
	w := weights[l.Name]
	if len(w) != l.In*l.Out || len(x) != rows*l.In {
		return nil, fmt.Errorf("export: infer: layer %s: %d weights for %dx%d, %d inputs for %d rows", l.Name, len(w), l.In, l.Out, len(x), rows)
	}
	k := m.GainPerSend * float64(l.Sends)
	lo, hi := m.Semantics.OutputMin, m.Semantics.OutputMax
	y := make([]int8, rows*l.Out)
	tot := make([]int, l.Out)
	for r := range rows {
		xr := x[r*l.In : (r+1)*l.In]
		clear(tot)
		for _, t := range l.Tiles {
			for c := t.Col0; c < t.Col1; c++ {
				s := 0
				for i := t.Row0; i < t.Row1; i++ {
					s += xr[i] * int(w[i*l.Out+c])
				}
				tot[c] += min(hi, max(lo, int(math.Floor(k*float64(s)))))
			}
		}
		for c, v := range tot {
			y[r*l.Out+c] = int8(min(hi, max(lo, v)))
		}
	}
	return y, nil
}

// describeLayers lists net's layers as the manifest records them.
func describeLayers(net *models.Network) ([]ManifestLayer, error) {
	var ls []ManifestLayer
	for i, l := range net.Layers {
		d := l.Describe()
		ml := ManifestLayer{Type: d.Type, Name: d.Name}
		switch l := l.(type) {
		case *layers.Conv2d:
			g := l.Geom
			pad := g.Pad
			ml.In, ml.Out = d.In, d.Out
			ml.InputHWC = []int{g.H, g.W, g.C}
			ml.Kernel, ml.Stride, ml.Padding = g.Kernel, g.Stride, &pad
			ml.OutputHW = []int{g.OutH, g.OutW}
			ml.Im2Col = ConvInputRule
			if err := analogSpec(&ml, l.Analog, d, ConvLayout); err != nil {
				return nil, err
			}
		case *layers.Dense:
			ml.In, ml.Out = d.In, d.Out
			if err := analogSpec(&ml, l.Analog, d, WeightLayout); err != nil {
				return nil, err
			}
		case *layers.ConvertingReLU:
			shift := l.Shift
			ml.Shift = &shift
			ml.Rule = ActivationRule
		case layers.Flatten:
			ml.Out = l.PerSample
			ml.Rule = FlattenRule
		default:
			return nil, fmt.Errorf("layer %d: type %q (%T) has no place in export format %d", i, d.Type, l, FormatVersion)
		}
		ls = append(ls, ml)
	}
	return ls, nil
}

func analogSpec(ml *ManifestLayer, a *layers.Analog, d layers.Description, layout string) error {
	tiles, err := analogmac.Tiles(a.In, a.Out, a.Place)
	if err != nil {
		return fmt.Errorf("layer %s: %w", a.Name, err)
	}
	p := a.Place
	ml.Sends, ml.Placement, ml.Tiles = a.Sends, &p, tiles
	ml.Weights = a.Name + ".weight"
	ml.Shape = []int{a.In, a.Out}
	ml.DType = "int8"
	ml.Layout = layout
	return nil
}

// checkRebuild compares m's layer list with the network models.New builds
// from m's kind and config, naming the first field that differs.
func checkRebuild(m *Manifest) error {
	net, err := buildNet(m)
	if err != nil {
		return fmt.Errorf("model %q: %w", m.Model.Name, err)
	}
	if net.GainPerSend != m.GainPerSend {
		return fmt.Errorf("gain_per_send %g, the model is designed for %g", m.GainPerSend, net.GainPerSend)
	}
	want, err := describeLayers(net)
	if err != nil {
		return err
	}
	if len(want) != len(m.Layers) {
		return fmt.Errorf("layer list: %d layers in the manifest, the %s model rebuilt from its description has %d", len(m.Layers), m.Model.Name, len(want))
	}
	for i := range want {
		if err := diffLayer(m.Layers[i], want[i]); err != nil {
			return fmt.Errorf("layer list: layer %d (%s %s) differs from the %s model rebuilt from its description: %w", i, m.Layers[i].Type, m.Layers[i].Name, m.Model.Name, err)
		}
	}
	return nil
}

// diffLayer names the first JSON field where got and want differ.
func diffLayer(got, want ManifestLayer) error {
	g, err := jsonFields(got)
	if err != nil {
		return err
	}
	w, err := jsonFields(want)
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for k := range g {
		keys[k] = true
	}
	for k := range w {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		gv, wv := string(g[k]), string(w[k])
		if gv != wv {
			if gv == "" {
				gv = "(absent)"
			}
			if wv == "" {
				wv = "(absent)"
			}
			return fmt.Errorf("field %q is %s in the manifest, %s in the model", k, gv, wv)
		}
	}
	return nil
}

func jsonFields(v any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	err = json.Unmarshal(b, &m)
	return m, err
}

func defaultSemantics() ManifestSemantics {
	return ManifestSemantics{Product: ProductRule, Activation: ActivationRule, Flatten: FlattenRule, Class: ClassRule,
		BlockRows: analogmac.BlockRows, BlockCols: analogmac.BlockCols, ArrayCols: analogmac.ArrayCols,
		InputMax: analogmac.InputMax, WeightMax: analogmac.WeightMax, OutputMin: analogmac.OutputMin, OutputMax: analogmac.OutputMax}
}

// checkManifestConstants refuses a manifest whose fixed numbers (the
// chip's ranges, the input rule) are not this build's.
func checkManifestConstants(m *Manifest) error {
	want := defaultSemantics()
	if m.Semantics != want {
		return fmt.Errorf("semantics %+v: this build implements %+v", m.Semantics, want)
	}
	if m.Input.Divisor != 8 || m.Input.Max != analogmac.InputMax || m.Input.Rule != InputRule || m.Input.Layout != InputLayout {
		return fmt.Errorf("input rule %q (divisor %d, max %d, layout %q): this build implements %q (divisor 8, max %d)",
			m.Input.Rule, m.Input.Divisor, m.Input.Max, m.Input.Layout, InputRule, analogmac.InputMax)
	}
	if !(m.GainPerSend > 0) || math.IsInf(m.GainPerSend, 0) {
		return fmt.Errorf("gain_per_send %g: want a positive number", m.GainPerSend)
	}
	return nil
}

// checkGraph runs the reference images through net's compiled graph and
// compares its logits with the references'.
func checkGraph(net *models.Network, refs []Reference) error {
	gr, err := net.NewGraph(models.GraphOptions{Batch: len(refs), On: IdealDevice(net)})
	if err != nil {
		return err
	}
	defer gr.Close()
	px := make([]uint8, 0, len(refs)*net.Inputs())
	for _, r := range refs {
		for _, p := range r.Pixels {
			px = append(px, uint8(p))
		}
	}
	layers.ScaleImages(gr.Input(), px)
	if err := gr.Run(context.Background(), nil); err != nil {
		return err
	}
	z := gr.Logits()
	for i, r := range refs {
		for j, v := range r.Logits {
			if g := z[i*net.Classes+j]; g != float32(v) {
				return fmt.Errorf("reference %d: the network's graph gives logit [%d] = %g, the layer-by-layer run %d", i, j, g, v)
			}
		}
	}
	return nil
}

// compareReference names the first value where got differs from r.
func compareReference(r Reference, got Inference) error {
	if len(got.Outputs) != len(r.Outputs) {
		return fmt.Errorf("reference %d: %d layer outputs recorded, %d analog layers run", r.Index, len(r.Outputs), len(got.Outputs))
	}
	for j, o := range r.Outputs {
		g := got.Outputs[j]
		if len(o.Shape) != 2 || o.Shape[0]*o.Shape[1] != len(g) || len(o.Values) != len(g) {
			return fmt.Errorf("reference %d: layer %s: recorded shape %v with %d values, the layer gives %d values", r.Index, o.Layer, o.Shape, len(o.Values), len(g))
		}
		for i, v := range o.Values {
			if int(g[i]) != v {
				return fmt.Errorf("reference %d (label %d): layer %s output [%d][%d] is %d, the manifest records %d", r.Index, r.Label, o.Layer, i/o.Shape[1], i%o.Shape[1], g[i], v)
			}
		}
	}
	if len(r.Logits) != len(got.Logits) {
		return fmt.Errorf("reference %d: %d logits recorded, the network gives %d", r.Index, len(r.Logits), len(got.Logits))
	}
	for i, v := range r.Logits {
		if int(got.Logits[i]) != v {
			return fmt.Errorf("reference %d: logit [%d] is %d, the manifest records %d", r.Index, i, got.Logits[i], v)
		}
	}
	if got.Class != r.Predicted {
		return fmt.Errorf("reference %d: predicted class is %d, the manifest records %d", r.Index, got.Class, r.Predicted)
	}
	return nil
}

func argmax(v []int) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func ints[T int8 | uint8 | float32](v []T) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// checkExportName accepts a plain file name stem.
func checkExportName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || filepath.Base(name) != name {
		return fmt.Errorf("export: export name %q: want a plain file name without directories", name)
	}
	return nil
}

// numberLists matches a JSON array of numbers spread over lines by
// json.MarshalIndent.
var numberLists = regexp.MustCompile(`\[\s*(?:-?[0-9][0-9.eE+-]*\s*,\s*)*-?[0-9][0-9.eE+-]*\s*\]`)

// encodeManifest indents the manifest but keeps lists of numbers on one
// line, so that a reference image is one line rather than 784.
func encodeManifest(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the rules say ">>" and "->"
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return numberLists.ReplaceAllFunc(buf.Bytes(), func(s []byte) []byte {
		return bytes.Join(bytes.Fields(s), nil)
	}), nil
}

// npyMember is one int8 matrix of an npz.
type npyMember struct {
	key        string // np.load key; the zip member is key + ".npy"
	rows, cols int
	data       []int8
}

// npzTime is the fixed modification time of every member, so that the
// same weights always give the same bytes and the same SHA-256.
var npzTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// encodeNPZ writes the members as an uncompressed zip of .npy v1.0 files,
// as numpy.savez does.
func encodeNPZ(members []npyMember) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, mb := range members {
		if len(mb.data) != mb.rows*mb.cols {
			return nil, fmt.Errorf("npz member %s: %d values for shape (%d, %d)", mb.key, len(mb.data), mb.rows, mb.cols)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: mb.key + ".npy", Method: zip.Store, Modified: npzTime})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(npyInt8Header(mb.rows, mb.cols)); err != nil {
			return nil, err
		}
		raw := make([]byte, len(mb.data))
		for i, v := range mb.data {
			raw[i] = byte(v)
		}
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// npyInt8Header is the .npy v1.0 header of a C-order int8 matrix, padded
// with spaces to a multiple of 64 bytes and ended by a newline, as numpy
// writes it.
func npyInt8Header(rows, cols int) []byte {
	dict := fmt.Sprintf("{'descr': '|i1', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	n := len(npyMagic) + 4 + len(dict) + 1
	pad := (64 - n%64) % 64
	h := make([]byte, 0, n+pad)
	h = append(h, npyMagic...)
	h = append(h, 1, 0)
	h = binary.LittleEndian.AppendUint16(h, uint16(len(dict)+pad+1))
	h = append(h, dict...)
	h = append(h, bytes.Repeat([]byte{' '}, pad)...)
	return append(h, '\n')
}

// decodeNPZ reads an npz that must hold exactly the keys of want, each an
// int8 matrix of the given (rows, cols) with values in the weight range.
func decodeNPZ(data []byte, want map[string][2]int) (map[string][]int8, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("not a valid npz (zip) file: %w", err)
	}
	out := map[string][]int8{}
	for _, f := range zr.File {
		key, ok := strings.CutSuffix(f.Name, ".npy")
		shape, known := want[key]
		if !ok || !known {
			return nil, fmt.Errorf("member %q: not a weight array of the manifest's layers", f.Name)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("member %q appears twice", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("member %q: %w", f.Name, err)
		}
		// Reading to the end makes archive/zip check the CRC-32.
		b, err := io.ReadAll(io.LimitReader(rc, int64(shape[0]*shape[1])+1<<20))
		_ = rc.Close()
		if err != nil {
			return nil, fmt.Errorf("member %q is corrupted: %w", f.Name, err)
		}
		w, err := parseInt8NPY(b, shape[0], shape[1])
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", key, err)
		}
		out[key] = w
	}
	for key := range want {
		if _, ok := out[key]; !ok {
			return nil, fmt.Errorf("array %q is missing", key)
		}
	}
	return out, nil
}

// parseInt8NPY checks a .npy file's header (versions 1 to 3) for an int8
// C-order (rows, cols) array and returns its values, which must lie in
// -WeightMax..WeightMax.
func parseInt8NPY(b []byte, rows, cols int) ([]int8, error) {
	if len(b) < 10 || string(b[:6]) != npyMagic {
		return nil, errors.New("not a .npy file (no \\x93NUMPY magic)")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, errors.New("truncated .npy header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf(".npy version %d.%d: want 1.0, 2.0 or 3.0", b[6], b[7])
	}
	if start+hlen > len(b) {
		return nil, errors.New("truncated .npy header")
	}
	dict, err := parsePyDict(string(b[start : start+hlen]))
	if err != nil {
		return nil, fmt.Errorf(".npy header: %w", err)
	}
	if d := dict["descr"]; d != "|i1" && d != "<i1" && d != ">i1" && d != "i1" {
		return nil, fmt.Errorf("dtype %q: want int8 ('|i1')", d)
	}
	if f := dict["fortran_order"]; f != "False" {
		return nil, fmt.Errorf("fortran_order %s: want False (C order)", f)
	}
	if s, want := dict["shape"], fmt.Sprintf("(%d,%d)", rows, cols); s != want {
		return nil, fmt.Errorf("shape %s: want %s (in, out) from the manifest", s, want)
	}
	data := b[start+hlen:]
	if len(data) != rows*cols {
		return nil, fmt.Errorf("%d data bytes, shape (%d, %d) needs %d", len(data), rows, cols, rows*cols)
	}
	w := make([]int8, len(data))
	for i, v := range data {
		w[i] = int8(v)
		if w[i] > analogmac.WeightMax || w[i] < -analogmac.WeightMax {
			return nil, fmt.Errorf("weight [%d][%d] = %d: outside the chip's range -%d..%d", i/cols, i%cols, w[i], analogmac.WeightMax, analogmac.WeightMax)
		}
	}
	return w, nil
}

// parsePyDict reads the Python literal dict of a .npy header into its
// three keys, with values normalised: strings unquoted, True/False as
// written, tuples without spaces as "(a,b)".
func parsePyDict(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("%q is not a dict", s)
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	out := map[string]string{}
	for s != "" {
		key, rest, err := pyString(s)
		if err != nil {
			return nil, err
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("no ':' after key %q", key)
		}
		rest = strings.TrimSpace(rest[1:])
		var val string
		switch {
		case strings.HasPrefix(rest, "'") || strings.HasPrefix(rest, `"`):
			val, rest, err = pyString(rest)
			if err != nil {
				return nil, err
			}
		case strings.HasPrefix(rest, "("):
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				return nil, errors.New("unterminated tuple")
			}
			var dims []string
			for f := range strings.SplitSeq(rest[1:end], ",") {
				if f = strings.TrimSpace(f); f == "" {
					continue
				}
				if _, err := strconv.Atoi(f); err != nil {
					return nil, fmt.Errorf("shape entry %q is not an integer", f)
				}
				dims = append(dims, f)
			}
			val, rest = "("+strings.Join(dims, ",")+")", rest[end+1:]
		default:
			end := strings.IndexAny(rest, ", ")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("key %q twice", key)
		}
		out[key] = val
		rest = strings.TrimSpace(rest)
		rest = strings.TrimPrefix(rest, ",")
		s = strings.TrimSpace(rest)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("no %q key", k)
		}
	}
	if len(out) != 3 {
		return nil, fmt.Errorf("%d keys, want descr, fortran_order and shape", len(out))
	}
	return out, nil
}

// pyString reads a quoted Python string (no escapes: none occur in a
// .npy header) at the start of s.
func pyString(s string) (val, rest string, err error) {
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", "", fmt.Errorf("expected a quoted string at %q", s)
	}
	end := strings.IndexByte(s[1:], s[0])
	if end < 0 {
		return "", "", fmt.Errorf("unterminated string at %q", s)
	}
	return s[1 : end+1], s[end+2:], nil
}

// buildNet rebuilds the network a manifest describes.
func buildNet(m *Manifest) (*models.Network, error) {
	in := models.Input{Height: m.Input.Height, Width: m.Input.Width, Channels: m.Input.Channels}
	return models.Build(m.Model, in, m.Classes)
}
