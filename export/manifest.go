package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/models"
)

// FormatVersion is the version of the export format Export writes and the
// only one Import reads. It changes whenever a field's meaning changes.
// Version 1 (before the redesign: a model named by kind and config,
// reference "pixels", a gain per layer) is refused with ErrVersion.
const FormatVersion = 2

// Creator is the manifest's created_by.
const Creator = "analogloop"

// Limits of the format. They bound what a reader allocates for a file from
// outside; Export refuses a network whose export would exceed them.
const (
	// MaxReferences is the number of samples of the reference set (its
	// first ones) whose outputs Export records as reference vectors.
	MaxReferences = 8
	// MaxManifestBytes bounds a manifest file.
	MaxManifestBytes = 32 << 20
	// MaxTrials bounds accuracy.trials.
	MaxTrials = 1 << 16
	// npzMemberOverhead bounds what a zip adds per member beside the .npy
	// (local header, data descriptor, central directory entry, name) and
	// npzOverhead what it adds once (end of central directory).
	npzMemberOverhead = 1024
	npzOverhead       = 1024
)

// Rule texts of the semantics, written into every manifest and required
// verbatim by Import; docs/inference.md explains each.
const (
	InputRule      = "x = floor(value / input_divisor) = value >> 3, 0..31, for every raw 8-bit value of a sample"
	LayoutRule     = "a sample is height x width x channels values, row-major, channels last: value (y, x, c) at index (y*width + x)*channels + c; a dense first layer takes this vector as its one input row"
	WeightRule     = "int8, shape (in, out), C order: w[r, c] multiplies input r into output c; conv2d input r = (ky*kernel + kx)*C + c_in, output c = output channel"
	Im2ColRule     = "conv2d: output position (oy, ox) is patch p = oy*out_w + ox, reading input (oy*stride - padding + ky, ox*stride - padding + kx, c_in), zero outside the sample, into row (ky*kernel + kx)*C + c_in"
	ProductRule    = "each row x of a layer's (rows, in) input: per tile (rows [row0,row1) x columns [col0,col1) of the weight matrix) t[c] = clamp(floor(k * sum_{r in [row0,row1)} x[r]*w[r,c]), -128, 127) with k = gain_per_send * sends computed in float64 first; y[c] = clamp(sum of t[c] over the row tiles, -128, 127)"
	ActivationRule = "converting_relu: x = clamp(floor(clamp(y, 0, 127) / 2^shift), 0, 31)"
	FlattenRule    = "(rows, features) -> (1, rows*features) row-major: a conv output (patch p, channel c) becomes input p*C + c"
	ClassRule      = "class = argmax of the last layer's int8 outputs; ties go to the lowest index"
)

// AccuracyStats is an accuracy measured over repeated trials on a noisy
// device (one trial suffices on a deterministic one): Mean is the mean of
// Trials, Std their sample standard deviation (n-1; 0 for one trial).
type AccuracyStats struct {
	Mean   float64   `json:"mean"`
	Std    float64   `json:"std"`
	Trials []float64 `json:"trials"`
}

// Manifest is the JSON half of an export (docs/inference.md §1 lists every
// field). Export writes every field and Import checks every one.
type Manifest struct {
	FormatVersion int    `json:"format_version"` // FormatVersion
	CreatedBy     string `json:"created_by"`     // Creator
	Created       string `json:"created"`        // RFC 3339, UTC; informative only

	// Model, Input, Classes, GainPerSend and the models.LayerSpec part of
	// Layers are the network's resolved models.Spec (see Spec).
	Model   ManifestModel `json:"model"`
	Input   models.Input  `json:"input"` // a sample's geometry
	Classes int           `json:"classes"`
	// GainPerSend is the one gain of the export: the output LSB per unit
	// of input x weight and per send that the integer semantics use, for
	// every layer.
	GainPerSend float64           `json:"gain_per_send"`
	Semantics   ManifestSemantics `json:"semantics"`
	// Layers lists every layer in the order it is applied.
	Layers  []ManifestLayer `json:"layers"`
	Weights ManifestWeights `json:"weights"`

	Dataset  string         `json:"dataset"`  // the dataset the accuracies were measured on
	Device   analogmac.Spec `json:"device"`   // the device Accuracy was measured on
	Accuracy AccuracyStats  `json:"accuracy"` // on Device, over the first IdealSamples test samples
	// IdealAccuracy is the accuracy on the ideal device with GainPerSend
	// over the first IdealSamples samples of the dataset's test split:
	// what evaluating an import reproduces exactly.
	IdealAccuracy float64 `json:"ideal_accuracy"`
	IdealSamples  int     `json:"ideal_samples"`
	Note          string  `json:"note,omitempty"` // free text, informative only

	// References are test samples with the exact outputs of the ideal
	// device: a reimplementation must reproduce every value.
	References []Reference `json:"references"`

	path string // the file it was read from or written to, for errors
}

// ManifestModel is what of a models.Spec is neither the layers nor the
// sample geometry, classes and gain, which have fields of their own.
type ManifestModel struct {
	Name       string  `json:"name"`
	LogitScale float64 `json:"logit_scale"` // training only: no effect on inference
}

// ManifestSemantics states the integer data path in words and numbers.
type ManifestSemantics struct {
	Input        string `json:"input"`      // InputRule
	Layout       string `json:"layout"`     // LayoutRule
	Weights      string `json:"weights"`    // WeightRule
	Im2Col       string `json:"im2col"`     // Im2ColRule
	Product      string `json:"product"`    // ProductRule
	Activation   string `json:"activation"` // ActivationRule
	Flatten      string `json:"flatten"`    // FlattenRule
	Class        string `json:"class"`      // ClassRule
	InputDivisor int    `json:"input_divisor"`
	BlockRows    int    `json:"block_rows"` // rows of one tile, analogmac.BlockRows
	BlockCols    int    `json:"block_cols"` // columns of one tile, analogmac.BlockCols
	ArrayCols    int    `json:"array_cols"` // physical columns, analogmac.ArrayCols
	InputMax     int    `json:"input_max"`
	WeightMax    int    `json:"weight_max"`
	OutputMin    int    `json:"output_min"`
	OutputMax    int    `json:"output_max"`
}

// ManifestLayer is one layer: its models.LayerSpec, resolved (every
// default filled in), and fields derived from it by models.Build. Fields
// that do not apply to its type are left out; padding 0 is left out too.
type ManifestLayer struct {
	models.LayerSpec
	// analog layers (conv2d, dense)
	In int `json:"in,omitempty"` // input rows of the weight matrix; conv2d: kernel*kernel*C
	// conv2d only
	InputHWC []int `json:"input_hwc,omitempty"` // (H, W, C) the convolution reads
	OutputHW []int `json:"output_hw,omitempty"` // (out_h, out_w); patches = out_h*out_w
	// OutputShape is (rows, features) of one sample after the layer:
	// (patches, out) after a conv2d, (1, rows*features) after a flatten.
	OutputShape []int `json:"output_shape"`
	// analog layers (conv2d, dense)
	Tiles   []analogmac.Tile `json:"tiles,omitempty"`   // analogmac.Tiles(in, out, placement)
	Weights string           `json:"weights,omitempty"` // np.load key, NAME.weight; the zip member is KEY.npy
	Shape   []int            `json:"shape,omitempty"`   // (in, out)
	DType   string           `json:"dtype,omitempty"`   // "int8"
}

// ManifestWeights names the .npz beside the manifest and pins its bytes.
type ManifestWeights struct {
	File   string `json:"file"`   // base name, in the manifest's directory
	SHA256 string `json:"sha256"` // lower-case hex
	Bytes  int64  `json:"bytes"`
}

// Reference is one sample and the ideal device's exact outputs for it.
type Reference struct {
	Index  int   `json:"index"`  // position in the set it was taken from
	Label  int   `json:"label"`  // true class
	Values []int `json:"values"` // raw 0..255 values, semantics.layout order
	// Outputs holds every analog layer's int8 output (before any
	// activation), in layer order.
	Outputs   []LayerOutput `json:"outputs"`
	Logits    []int         `json:"logits"`    // the last layer's outputs
	Predicted int           `json:"predicted"` // argmax of Logits, lowest index on ties
}

// LayerOutput is one analog layer's output for one sample: Shape is the
// layer's output_shape (rows, out), rows being the patches of a conv2d;
// Values are row-major.
type LayerOutput struct {
	Layer  string `json:"layer"`
	Shape  []int  `json:"shape"`
	Values []int  `json:"values"`
}

// Spec returns the network description the manifest records: models.Build
// of it with m.Input and m.Classes rebuilds the exported network (with
// zero weights).
func (m *Manifest) Spec() models.Spec {
	in := m.Input
	s := models.Spec{Name: m.Model.Name, Input: &in, Classes: m.Classes, GainPerSend: m.GainPerSend,
		LogitScale: m.Model.LogitScale, Layers: make([]models.LayerSpec, len(m.Layers))}
	for i, l := range m.Layers {
		s.Layers[i] = l.LayerSpec
	}
	return s.Clone()
}

// Semantics returns the semantics this build implements: a manifest must
// record exactly these.
func Semantics() ManifestSemantics {
	return ManifestSemantics{Input: InputRule, Layout: LayoutRule, Weights: WeightRule, Im2Col: Im2ColRule,
		Product: ProductRule, Activation: ActivationRule, Flatten: FlattenRule, Class: ClassRule,
		InputDivisor: 8, BlockRows: analogmac.BlockRows, BlockCols: analogmac.BlockCols, ArrayCols: analogmac.ArrayCols,
		InputMax: analogmac.InputMax, WeightMax: analogmac.WeightMax, OutputMin: analogmac.OutputMin, OutputMax: analogmac.OutputMax}
}

func tampered(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...), kind: ErrTampered}
}

func notExport(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...), kind: ErrNotExport}
}

// parseManifest decodes and checks a manifest on its own, without the
// weights: format, structure, constants, the layer list against the
// network its description builds, and the consistency of every recorded
// figure with the others. It returns the network Build makes of it (zero
// weights). It never runs the network: each call costs a JSON decode and
// a Build. Errors are *fieldError.
func parseManifest(raw []byte) (*Manifest, *models.Network, error) {
	// The version is read on its own first, so that another format is
	// named as such rather than as unknown fields.
	var head struct {
		FormatVersion json.RawMessage `json:"format_version"`
		CreatedBy     *string         `json:"created_by"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return nil, nil, notExport("", "not a JSON manifest: a JSON %s, not an object", te.Value)
		}
		return nil, nil, notExport("", "not a JSON manifest: %v", err)
	}
	if head.FormatVersion == nil {
		return nil, nil, notExport("format_version", "missing: not an analogloop export manifest")
	}
	var version int
	if err := json.Unmarshal(head.FormatVersion, &version); err != nil {
		return nil, nil, notExport("format_version", "%s: want an integer", head.FormatVersion)
	}
	switch {
	case version == 1:
		return nil, nil, &fieldError{field: "format_version", kind: ErrVersion, msg: fmt.Sprintf(
			"1: written by analogloop before the redesign (models named by kind and config); this build reads only version %d: export the network again", FormatVersion)}
	case version != FormatVersion:
		return nil, nil, &fieldError{field: "format_version", kind: ErrVersion, msg: fmt.Sprintf(
			"%d: this build reads only version %d", version, FormatVersion)}
	}
	if head.CreatedBy == nil || *head.CreatedBy != Creator {
		got := "missing"
		if head.CreatedBy != nil {
			got = fmt.Sprintf("%q", *head.CreatedBy)
		}
		return nil, nil, notExport("created_by", "%s: want %q", got, Creator)
	}
	if err := checkKeys(raw); err != nil {
		return nil, nil, err
	}
	m := new(Manifest)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil { // json.Unmarshal above refused trailing data
		return nil, nil, notExport("", "not a version %d manifest: %v", FormatVersion, err)
	}
	net, err := m.validate()
	if err != nil {
		return nil, nil, err
	}
	return m, net, nil
}

// checkKeys refuses an object key that is not lower-case ASCII or that
// appears twice in its object. encoding/json matches keys regardless of
// case (folding some non-ASCII letters too) and keeps the last of
// duplicates, where other readers (Python's json) keep them apart: such a
// manifest could say one thing to Import and another to a reimplementation.
func checkKeys(raw []byte) error {
	type frame struct {
		obj, wantKey bool
		keys         map[string]bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return notExport("", "not a JSON manifest: %v", err)
		}
		n := len(stack)
		if n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, _ := tok.(string) // a key is always a string here
			if !jsonKey.MatchString(key) {
				return notExport(key, "a key of a manifest is lower-case ASCII letters, digits and '_'")
			}
			if stack[n-1].keys[key] {
				return notExport(key, "appears twice in one object")
			}
			stack[n-1].keys[key] = true
			stack[n-1].wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, wantKey: true, keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:n-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

var jsonKey = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// validate runs every check of a manifest that needs neither the weights
// nor a run of the network, and returns the network Build makes of it.
func (m *Manifest) validate() (*models.Network, error) {
	if _, err := time.Parse(time.RFC3339, m.Created); err != nil {
		return nil, tampered("created", "%q: want an RFC 3339 time", m.Created)
	}
	if err := diffFields("semantics.", m.Semantics, Semantics(), "in the manifest", "this build implements"); err != nil {
		// Other semantics are another format, not damage.
		var fe *fieldError
		if errors.As(err, &fe) {
			fe.kind = ErrNotExport
		}
		return nil, err
	}
	// models.Build multiplies the sizes before checking them: refuse
	// sizes whose product could overflow first.
	in, lim := m.Input, models.MaxActivations
	if in.Height < 1 || in.Width < 1 || in.Channels < 1 || in.Height > lim || in.Width > lim || in.Channels > lim ||
		in.Height*in.Width > lim || in.Height*in.Width*in.Channels > lim {
		return nil, tampered("input", "%dx%dx%d: want positive sizes and at most %d values", in.Height, in.Width, in.Channels, lim)
	}
	net, err := rebuild(m)
	if err != nil {
		return nil, err
	}
	if err := m.checkWeightsEntry(); err != nil {
		return nil, err
	}
	if err := m.checkFigures(); err != nil {
		return nil, err
	}
	if err := m.checkReferences(); err != nil {
		return nil, err
	}
	return net, nil
}

// specFields maps the network-wide fields of a models.SpecError to the
// manifest's.
var specFields = map[string]string{"gain_per_send": "gain_per_send", "logit_scale": "model.logit_scale",
	"input": "input", "classes": "classes", "layers": "layers", "name": "model.name"}

// rebuild builds the network m describes and requires its layer list to
// be m's, field by field: the recorded layers must be resolved (no default
// left to fill in) and every derived field must be what Build derives.
func rebuild(m *Manifest) (*models.Network, error) {
	net, err := models.Build(m.Spec(), m.Input, m.Classes)
	if err != nil {
		var se *models.SpecError
		if errors.As(err, &se) {
			field := specFields[se.Field]
			if se.Layer >= 0 {
				field = fmt.Sprintf("layers[%d].%s", se.Layer, se.Field)
			} else if field == "" {
				field = se.Field
			}
			return nil, tampered(field, "%s: the layer list cannot be built", se.Msg)
		}
		return nil, tampered("model", "%v", err)
	}
	want, err := describeLayers(net)
	if err != nil {
		return nil, tampered("layers", "%v", err)
	}
	if len(want) != len(m.Layers) {
		return nil, tampered("layers", "%d layers in the manifest, the network built from them has %d", len(m.Layers), len(want))
	}
	for i := range want {
		if err := diffFields(fmt.Sprintf("layers[%d].", i), m.Layers[i], want[i], "in the manifest", "the network built from the layer list has"); err != nil {
			return nil, err
		}
	}
	if got, want := m.Spec(), net.Spec; !reflect.DeepEqual(got, want) {
		if got.LogitScale != want.LogitScale {
			return nil, tampered("model.logit_scale", "%g: want the resolved %g", got.LogitScale, want.LogitScale)
		}
		return nil, tampered("model", "the description is not resolved: %+v, Build resolves it to %+v", got, want)
	}
	return net, nil
}

// diffFields compares the JSON encodings of got and want field by field
// and names the first field that differs, as prefix + its JSON name.
func diffFields(prefix string, got, want any, gotWho, wantWho string) error {
	if reflect.DeepEqual(got, want) {
		return nil // the common case, without the JSON round trips
	}
	g, err := jsonFields(got)
	if err != nil {
		return err
	}
	w, err := jsonFields(want)
	if err != nil {
		return err
	}
	var names []string
	for k := range g {
		names = append(names, k)
	}
	for k := range w {
		if _, ok := g[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		gv, wv := string(g[k]), string(w[k])
		if gv == wv {
			continue
		}
		if gv == "" {
			gv = "absent"
		}
		if wv == "" {
			wv = "absent"
		}
		return tampered(prefix+k, "%s %s, %s %s", clip(gv), gotWho, wantWho, clip(wv))
	}
	return nil
}

// clip shortens a JSON value for an error message.
func clip(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
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

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkWeightsEntry checks the weights entry without opening the file.
func (m *Manifest) checkWeightsEntry() error {
	w := m.Weights
	stem, ok := strings.CutSuffix(w.File, ".npz")
	if !ok || checkName(stem) != nil {
		return tampered("weights.file", "%q: want a base name ending in .npz, in the manifest's directory", w.File)
	}
	if !sha256Hex.MatchString(w.SHA256) {
		return tampered("weights.sha256", "%q: want 64 lower-case hex digits", w.SHA256)
	}
	if lim := m.maxNPZBytes(); w.Bytes < 1 || w.Bytes > lim {
		return tampered("weights.bytes", "%d: the layers' arrays make an npz of at most %d bytes", w.Bytes, lim)
	}
	return nil
}

// maxNPZBytes bounds the npz of m's layers.
func (m *Manifest) maxNPZBytes() int64 {
	n := int64(npzOverhead)
	for _, l := range m.Layers {
		if l.Weights != "" {
			n += int64(l.In)*int64(l.Out) + MaxNPYHeader + npzMemberOverhead
		}
	}
	return n
}

// wholeCount reports whether acc is a whole number of correct samples out
// of n, up to float64 rounding of the division.
func wholeCount(acc float64, n int) bool {
	c := acc * float64(n)
	return math.Abs(c-math.Round(c)) <= 1e-9*max(1, c)
}

// figureTol is how far a recorded mean or std may be from the one computed
// from the trials: float64 rounding of the sums, nothing more.
const figureTol = 1e-9

// checkFigures checks that the recorded accuracies agree with each other.
func (m *Manifest) checkFigures() error {
	if m.IdealSamples < 1 {
		return tampered("ideal_samples", "%d: want at least 1", m.IdealSamples)
	}
	if !(m.IdealAccuracy >= 0 && m.IdealAccuracy <= 1) {
		return tampered("ideal_accuracy", "%g: want 0..1", m.IdealAccuracy)
	}
	if !wholeCount(m.IdealAccuracy, m.IdealSamples) {
		return tampered("ideal_accuracy", "%v is not a whole number of correct samples out of ideal_samples %d (%.4f)",
			m.IdealAccuracy, m.IdealSamples, m.IdealAccuracy*float64(m.IdealSamples))
	}
	if strings.TrimSpace(m.Dataset) == "" {
		return tampered("dataset", "missing: the accuracies were measured on some dataset")
	}
	d := m.Device
	if d.Kind == "" {
		return tampered("device.kind", "missing")
	}
	if !(d.GainPerSend > 0) || math.IsInf(d.GainPerSend, 0) {
		return tampered("device.gain_per_send", "%g: want a finite value > 0", d.GainPerSend)
	}
	if !(d.NoiseStd >= 0) || math.IsInf(d.NoiseStd, 0) {
		return tampered("device.noise_std", "%g: want a finite value >= 0", d.NoiseStd)
	}
	a := m.Accuracy
	if len(a.Trials) < 1 || len(a.Trials) > MaxTrials {
		return tampered("accuracy.trials", "%d trials: want 1..%d", len(a.Trials), MaxTrials)
	}
	for i, v := range a.Trials {
		if !(v >= 0 && v <= 1) {
			return tampered(fmt.Sprintf("accuracy.trials[%d]", i), "%g: want 0..1", v)
		}
		if !wholeCount(v, m.IdealSamples) {
			return tampered(fmt.Sprintf("accuracy.trials[%d]", i), "%v is not a whole number of correct samples out of ideal_samples %d (%.4f): the trials were measured on the same samples",
				v, m.IdealSamples, v*float64(m.IdealSamples))
		}
	}
	mean, std := MeanStd(a.Trials)
	if !(math.Abs(a.Mean-mean) <= figureTol) {
		return tampered("accuracy.mean", "%v, the mean of the %d recorded trials is %v", a.Mean, len(a.Trials), mean)
	}
	if !(math.Abs(a.Std-std) <= figureTol) {
		return tampered("accuracy.std", "%v, the sample standard deviation of the %d recorded trials is %v", a.Std, len(a.Trials), std)
	}
	// The ideal device is deterministic: every trial on it gives the same
	// accuracy, and with the export's gain that accuracy is ideal_accuracy.
	if d.Kind == analogmac.KindIdeal {
		if d.NoiseStd != 0 {
			return tampered("device.noise_std", "%g: the ideal device has no noise", d.NoiseStd)
		}
		for i, v := range a.Trials {
			if v != a.Trials[0] {
				return tampered(fmt.Sprintf("accuracy.trials[%d]", i), "%v differs from trial 0 (%v) on the deterministic ideal device", v, a.Trials[0])
			}
		}
		if d.GainPerSend == m.GainPerSend && !(math.Abs(a.Mean-m.IdealAccuracy) <= figureTol) {
			return tampered("accuracy.mean", "%v on the ideal device with the export's gain, where ideal_accuracy is %v", a.Mean, m.IdealAccuracy)
		}
	}
	return nil
}

// MeanStd returns the mean and the sample standard deviation (n-1; 0 for
// a single value) of v: how AccuracyStats' Mean and Std derive from its
// Trials, which Import checks; whatever records trials uses it.
func MeanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

// checkReferences checks the reference vectors' structure and the figures
// derived from their outputs (logits, predicted class); whether the
// outputs themselves are right takes the weights (Import replays them).
func (m *Manifest) checkReferences() error {
	if len(m.References) < 1 || len(m.References) > MaxReferences {
		return tampered("references", "%d reference vectors: want 1..%d", len(m.References), MaxReferences)
	}
	var analog []ManifestLayer
	for _, l := range m.Layers {
		if l.Weights != "" {
			analog = append(analog, l)
		}
	}
	nvals := m.Input.Values()
	for i, r := range m.References {
		at := func(f string) string { return fmt.Sprintf("references[%d].%s", i, f) }
		if r.Index != i {
			return tampered(at("index"), "%d: reference %d is sample %d of the set", r.Index, i, i)
		}
		if r.Label < 0 || r.Label >= m.Classes {
			return tampered(at("label"), "%d: want 0..%d", r.Label, m.Classes-1)
		}
		if len(r.Values) != nvals {
			return tampered(at("values"), "%d values: a %dx%dx%d sample has %d", len(r.Values), m.Input.Height, m.Input.Width, m.Input.Channels, nvals)
		}
		for j, v := range r.Values {
			if v < 0 || v > 255 {
				return tampered(fmt.Sprintf("references[%d].values[%d]", i, j), "%d: want 0..255", v)
			}
		}
		if len(r.Outputs) != len(analog) {
			return tampered(at("outputs"), "%d layer outputs: the network has %d analog layers", len(r.Outputs), len(analog))
		}
		for j, o := range r.Outputs {
			l := analog[j]
			f := fmt.Sprintf("references[%d].outputs[%d]", i, j)
			if o.Layer != l.Name {
				return tampered(f+".layer", "%q: analog layer %d is %q", o.Layer, j, l.Name)
			}
			if !slices.Equal(o.Shape, l.OutputShape) {
				return tampered(f+".shape", "%v: layer %s's output_shape is %v", o.Shape, l.Name, l.OutputShape)
			}
			if len(o.Values) != l.OutputShape[0]*l.OutputShape[1] {
				return tampered(f+".values", "%d values for shape %v", len(o.Values), o.Shape)
			}
			for k, v := range o.Values {
				if v < analogmac.OutputMin || v > analogmac.OutputMax {
					return tampered(fmt.Sprintf("%s.values[%d]", f, k), "%d: want %d..%d", v, analogmac.OutputMin, analogmac.OutputMax)
				}
			}
		}
		last := r.Outputs[len(r.Outputs)-1].Values
		if !slices.Equal(r.Logits, last) {
			return tampered(at("logits"), "%v: the last layer's recorded output is %v", r.Logits, last)
		}
		if p := argmax(r.Logits); r.Predicted != p {
			return tampered(at("predicted"), "%d: the argmax of the recorded logits is %d", r.Predicted, p)
		}
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

// checkName accepts a plain file name stem.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || len(name) > 200 {
		return fmt.Errorf("export name %q: want a plain file name without directories", name)
	}
	return nil
}

// numberLists matches a JSON array of numbers spread over lines by
// json.MarshalIndent.
var numberLists = regexp.MustCompile(`\[\s*(?:-?[0-9][0-9.eE+-]*\s*,\s*)*-?[0-9][0-9.eE+-]*\s*\]`)

// encodeManifest indents the manifest but keeps lists of numbers on one
// line, so that a reference sample is one line rather than 784.
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
