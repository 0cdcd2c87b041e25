package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/internal/atomicfile"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// Info is what the caller knows about the network being exported. Both
// accuracies are over the same samples: the first IdealSamples of the
// dataset's test split.
type Info struct {
	Dataset string // "mnist", "fashion-mnist", "yinyang", ...
	// Device is the device Accuracy was measured on.
	Device analogmac.Spec
	// Accuracy is at least one trial on Device; Mean and Std must be those
	// of Trials (AccuracyStats).
	Accuracy AccuracyStats
	// IdealAccuracy is the accuracy of the same integer weights on
	// IdealDevice(net) (see IdealAccuracy): being deterministic, it is
	// what an imported network reproduces.
	IdealAccuracy float64
	IdealSamples  int // at least 1
	Note          string
}

// IdealDevice returns the noise-free device with the gain net is designed
// for: the device the reference vectors and ideal accuracy of an export
// are computed on.
func IdealDevice(net *models.Network) *analogmac.Ideal {
	return &analogmac.Ideal{GainPerSend: net.GainPerSend}
}

// IdealAccuracy evaluates net on IdealDevice(net) over set: the value
// Info.IdealAccuracy wants (with Info.IdealSamples = set.N).
func IdealAccuracy(ctx context.Context, net *models.Network, set *datasets.Set) (float64, error) {
	return net.Accuracy(ctx, IdealDevice(net), set)
}

// CheckAccuracy evaluates net (as returned by Import) on the ideal device
// with the manifest's gain over the first IdealSamples samples of test,
// the samples the manifest's ideal_accuracy was measured on, and returns
// the accuracy; it is an ErrTampered error unless the same number of
// samples is classified correctly. test may hold more samples than
// IdealSamples.
func (m *Manifest) CheckAccuracy(ctx context.Context, net *models.Network, test *datasets.Set) (float64, error) {
	if m.IdealSamples < 1 || test.N < m.IdealSamples {
		return 0, &Error{Op: "check accuracy", File: m.path, Field: "ideal_samples",
			Msg: fmt.Sprintf("%d: ideal_accuracy was measured on the first %d samples, the test set has %d", m.IdealSamples, m.IdealSamples, test.N)}
	}
	set := test.Head(m.IdealSamples)
	acc, err := net.Accuracy(ctx, &analogmac.Ideal{GainPerSend: m.GainPerSend}, set)
	if err != nil {
		return 0, &Error{Op: "check accuracy", File: m.path, Err: err}
	}
	got, want := math.Round(acc*float64(set.N)), math.Round(m.IdealAccuracy*float64(set.N))
	if got != want {
		return acc, &Error{Op: "check accuracy", File: m.path, Field: "ideal_accuracy", Kind: ErrTampered,
			Msg: fmt.Sprintf("%v (%v of %d correct), the ideal device classifies %v correctly (%v)", m.IdealAccuracy, want, set.N, got, acc)}
	}
	return acc, nil
}

// Export writes dir/name.npz and dir/name.json, each atomically (a
// temporary file in dir, then a rename; the npz first), and returns the
// manifest. The first MaxReferences samples of refs become the reference
// vectors, computed on IdealDevice(net). Before writing, Export runs on
// what it is about to write every check Import runs, so that an export
// that succeeds also imports: a network whose layers differ from its Spec,
// or Info whose figures disagree with each other, is refused. Export only
// reads net.
func Export(dir, name string, net *models.Network, info Info, refs *datasets.Set) (*Manifest, error) {
	path := filepath.Join(dir, name+".json")
	fail := func(err error) (*Manifest, error) {
		e := asError("export", path, nil, err)
		e.Op, e.File = "export", path
		return nil, e
	}
	if err := checkName(name); err != nil {
		return fail(err)
	}
	if refs == nil || refs.N < 1 {
		return fail(errors.New("no reference samples"))
	}
	if err := refs.Validate(); err != nil {
		return fail(fmt.Errorf("reference samples: %w", err))
	}
	if err := net.CheckSet(refs); err != nil {
		return fail(fmt.Errorf("reference samples: %w", err))
	}
	m := &Manifest{
		FormatVersion: FormatVersion,
		CreatedBy:     Creator,
		Created:       time.Now().UTC().Format(time.RFC3339),
		Model:         ManifestModel{Name: net.Spec.Name, LogitScale: net.LogitScale},
		Input:         net.Input,
		Classes:       net.Classes,
		GainPerSend:   net.GainPerSend,
		Semantics:     Semantics(),
		Dataset:       info.Dataset,
		Device:        info.Device,
		Accuracy:      info.Accuracy,
		IdealAccuracy: info.IdealAccuracy,
		IdealSamples:  info.IdealSamples,
		Note:          info.Note,
		path:          path,
	}
	var err error
	if m.Layers, err = describeLayers(net); err != nil {
		return fail(err)
	}
	// The layers exported are the live ones: they must be what net.Spec
	// says, which is what an import rebuilds.
	if err := checkAgainstSpec(m, net.Spec); err != nil {
		return fail(err)
	}

	var arrays []array
	weights := map[string][]int8{}
	for _, a := range net.Analog() {
		q := a.QuantizedWeights(nil)
		weights[a.Name] = q
		arrays = append(arrays, array{key: a.Name + ".weight", rows: a.In, cols: a.Out, data: q})
	}
	npz, err := encodeNPZ(arrays)
	if err != nil {
		return fail(err)
	}
	sum := sha256.Sum256(npz)
	m.Weights = ManifestWeights{File: name + ".npz", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(npz))}

	nref := min(refs.N, MaxReferences)
	ideal := IdealDevice(net)
	outs, err := net.Trace(context.Background(), ideal, refs.Samples[:nref*refs.Values()], nref, nil)
	if err != nil {
		return fail(fmt.Errorf("reference vectors: %w", err))
	}
	analog := net.Analog()
	for i := range nref {
		r := Reference{Index: i, Label: int(refs.Labels[i]), Values: ints(refs.Sample(i))}
		for j, a := range analog {
			n := len(outs[j]) / nref
			r.Outputs = append(r.Outputs, LayerOutput{Layer: a.Name, Shape: []int{n / a.Out, a.Out}, Values: ints(outs[j][i*n : (i+1)*n])})
		}
		r.Logits = ints(outs[len(outs)-1][i*net.Classes : (i+1)*net.Classes])
		r.Predicted = argmax(r.Logits)
		m.References = append(m.References, r)
	}

	// Everything Import checks without the files must hold.
	if _, err := m.validate(); err != nil {
		return fail(err)
	}
	// Self-checks: the compiled graph and the manifest-only integer
	// inference (the documented semantics) must agree with the layer walk.
	if err := checkGraph(net, m.References); err != nil {
		return fail(fmt.Errorf("the network's graph disagrees with its layer-by-layer run (a bug): %w", err))
	}
	if err := m.replayInfer(weights); err != nil {
		return fail(fmt.Errorf("the manifest's integer semantics disagree with the network (a bug): %w", err))
	}

	js, err := encodeManifest(m)
	if err != nil {
		return fail(err)
	}
	if len(js) > MaxManifestBytes {
		return fail(fmt.Errorf("the manifest would take %d bytes, more than the %d an import reads", len(js), MaxManifestBytes))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	if err := atomicfile.Write(filepath.Join(dir, m.Weights.File), npz); err != nil {
		return fail(err)
	}
	if err := atomicfile.Write(path, js); err != nil {
		return fail(err)
	}
	return m, nil
}

// checkAgainstSpec names the first field where the exported layers (and
// network-wide fields) differ from the Spec the network was built from.
func checkAgainstSpec(m *Manifest, spec models.Spec) error {
	if len(spec.Layers) != len(m.Layers) {
		return fmt.Errorf("the network has %d layers, its Spec %d: it was changed after models.Build", len(m.Layers), len(spec.Layers))
	}
	for i, l := range m.Layers {
		if err := diffFields(fmt.Sprintf("layers[%d].", i), l.LayerSpec, spec.Layers[i], "in the network's layers",
			"the Spec it was built from has"); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				fe.msg += ": the layer was changed after models.Build"
				fe.kind = nil
			}
			return err
		}
	}
	if got := m.Spec(); !reflect.DeepEqual(got, spec) {
		return fmt.Errorf("the network (%+v) differs from the Spec it was built from (%+v)", got, spec)
	}
	return nil
}

// describeLayers lists net's layers, as they are, the way the manifest
// records them.
func describeLayers(net *models.Network) ([]ManifestLayer, error) {
	rows, features := 1, net.Inputs()
	var ls []ManifestLayer
	for i, l := range net.Layers {
		var ml ManifestLayer
		switch l := l.(type) {
		case *layers.Conv2d:
			g := l.Geom
			if rows != 1 || features != g.InputsPerSample {
				return nil, fmt.Errorf("layer %d (conv2d %s): reads %dx%dx%d, its input is %d x %d", i, l.Name, g.H, g.W, g.C, rows, features)
			}
			ml.LayerSpec = models.LayerSpec{Type: models.Conv2d, Name: l.Name, Out: l.Out, Kernel: g.Kernel, Stride: g.Stride, Padding: g.Pad}
			if err := analogFields(&ml, l.Analog); err != nil {
				return nil, err
			}
			ml.InputHWC = []int{g.H, g.W, g.C}
			ml.OutputHW = []int{g.OutH, g.OutW}
			rows, features = g.Patches, l.Out
		case *layers.Dense:
			if features != l.In {
				return nil, fmt.Errorf("layer %d (dense %s): %d inputs, its input rows have %d", i, l.Name, l.In, features)
			}
			ml.LayerSpec = models.LayerSpec{Type: models.Dense, Name: l.Name, Out: l.Out}
			if err := analogFields(&ml, l.Analog); err != nil {
				return nil, err
			}
			features = l.Out
		case *layers.ConvertingReLU:
			shift := l.Shift
			ml.LayerSpec = models.LayerSpec{Type: models.ConvertingReLU, Shift: &shift}
		case layers.Flatten:
			if l.PerSample != rows*features {
				return nil, fmt.Errorf("layer %d (flatten): %d values per sample, its input has %d x %d", i, l.PerSample, rows, features)
			}
			ml.LayerSpec = models.LayerSpec{Type: models.Flatten}
			rows, features = 1, rows*features
		default:
			return nil, fmt.Errorf("layer %d: type %q (%T) has no place in export format %d", i, l.Describe().Type, l, FormatVersion)
		}
		ml.OutputShape = []int{rows, features}
		ls = append(ls, ml)
	}
	return ls, nil
}

func analogFields(ml *ManifestLayer, a *layers.Analog) error {
	tiles, err := analogmac.Tiles(a.In, a.Out, a.Place)
	if err != nil {
		return fmt.Errorf("layer %s: %w", a.Name, err)
	}
	p := a.Place
	ml.Sends, ml.Placement, ml.Tiles = a.Sends, &p, tiles
	ml.In = a.In
	ml.Weights = a.Name + ".weight"
	ml.Shape = []int{a.In, a.Out}
	ml.DType = "int8"
	return nil
}

// checkGraph runs the reference samples through net's compiled graph on
// the ideal device and compares its logits with the references'.
func checkGraph(net *models.Network, refs []Reference) error {
	gr, err := net.NewGraph(models.GraphOptions{Batch: len(refs), On: IdealDevice(net)})
	if err != nil {
		return err
	}
	defer gr.Close()
	vals := make([]uint8, 0, len(refs)*net.Inputs())
	for _, r := range refs {
		for _, v := range r.Values {
			vals = append(vals, uint8(v))
		}
	}
	layers.ScaleImages(gr.Input(), vals)
	if err := gr.Run(context.Background(), nil); err != nil {
		return err
	}
	z := gr.Logits()
	for i, r := range refs {
		for j, v := range r.Logits {
			if g := z[i*net.Classes+j]; g != float32(v) {
				return tampered(fmt.Sprintf("references[%d].logits[%d]", i, j), "%d, the network's compiled graph gives %g", v, g)
			}
		}
	}
	return nil
}

// compareReference names the first value where got differs from r, the
// i-th reference; who says what computed got.
func compareReference(i int, r Reference, got Inference, who string) error {
	if len(got.Outputs) != len(r.Outputs) {
		return tampered(fmt.Sprintf("references[%d].outputs", i), "%d layer outputs recorded, %s gives %d", len(r.Outputs), who, len(got.Outputs))
	}
	for j, o := range r.Outputs {
		g := got.Outputs[j]
		if len(o.Values) != len(g) {
			return tampered(fmt.Sprintf("references[%d].outputs[%d].values", i, j), "%d values recorded, %s gives %d", len(o.Values), who, len(g))
		}
		for k, v := range o.Values {
			if int(g[k]) != v {
				return tampered(fmt.Sprintf("references[%d].outputs[%d].values[%d]", i, j, k),
					"layer %s output [%d][%d] is %d in the manifest, %s gives %d: the reference vectors do not reproduce", o.Layer, k/o.Shape[1], k%o.Shape[1], v, who, g[k])
			}
		}
	}
	for k, v := range r.Logits {
		if k >= len(got.Logits) || int(got.Logits[k]) != v {
			return tampered(fmt.Sprintf("references[%d].logits[%d]", i, k), "%d in the manifest, %s gives another value", v, who)
		}
	}
	if got.Class != r.Predicted {
		return tampered(fmt.Sprintf("references[%d].predicted", i), "%d in the manifest, %s predicts %d", r.Predicted, who, got.Class)
	}
	return nil
}

// replayInfer runs the references through Infer.
func (m *Manifest) replayInfer(weights map[string][]int8) error {
	for i, r := range m.References {
		vals := make([]uint8, len(r.Values))
		for j, v := range r.Values {
			vals[j] = uint8(v)
		}
		got, err := m.Infer(weights, vals)
		if err != nil {
			return err
		}
		if err := compareReference(i, r, got, "the manifest's integer semantics (Infer)"); err != nil {
			return err
		}
	}
	return nil
}

func ints[T int8 | uint8](v []T) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
