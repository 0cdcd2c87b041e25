package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/models"
)

// ReadManifest reads and checks the manifest at path on its own: format,
// structure, constants, the layer list against the network it describes,
// and the consistency of the recorded figures. It neither opens the .npz
// nor runs the network; Import does both.
func ReadManifest(path string) (*Manifest, error) {
	raw, err := readRegular("import", path, MaxManifestBytes, "")
	if err != nil {
		return nil, err
	}
	m, _, err := parseManifest(raw)
	if err != nil {
		return nil, asError("import", path, ErrNotExport, err)
	}
	m.path = path
	return m, nil
}

// Import reads the manifest at path and the .npz it names and checks
// them: everything ReadManifest checks, then the .npz (a regular file of
// the recorded size and SHA-256 holding exactly the layers' arrays, each
// int8, C order, of the layer's shape, within -63..63), then it loads the
// weights and replays the reference vectors on the ideal device, through
// the network's layer walk, its compiled graph and the manifest's integer
// semantics (Infer). Any difference is an *Error naming the file and the
// field; see ErrNotExport and ErrTampered. The network returned holds the
// integer weights and is meant for the ideal device with the manifest's
// gain (analogmac.Ideal{GainPerSend: m.GainPerSend}).
//
// Import establishes that the files are consistent, not who wrote them:
// ImportSigned does that.
func Import(path string) (*models.Network, *Manifest, error) {
	raw, err := readRegular("import", path, MaxManifestBytes, "")
	if err != nil {
		return nil, nil, err
	}
	return importManifest("import", path, raw)
}

// importManifest is Import of the manifest bytes raw read from path; op
// names the operation in errors.
func importManifest(op, path string, raw []byte) (*models.Network, *Manifest, error) {
	fail := func(file string, err error) (*models.Network, *Manifest, error) {
		return nil, nil, asError(op, file, ErrTampered, err)
	}
	m, net, err := parseManifest(raw)
	if err != nil {
		return nil, nil, asError(op, path, ErrNotExport, err)
	}
	m.path = path

	// The weights: beside the manifest, of the recorded size and SHA-256.
	npzPath := filepath.Join(filepath.Dir(path), m.Weights.File)
	npz, err := readRegular(op, npzPath, m.Weights.Bytes, "weights.bytes")
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(npz)
	if got := hex.EncodeToString(sum[:]); got != m.Weights.SHA256 {
		return fail(npzPath, tampered("weights.sha256", "the file's SHA-256 is %s, the manifest records %s: the file was changed or corrupted", got, m.Weights.SHA256))
	}
	var want []array
	for _, l := range m.Layers {
		if l.Weights != "" {
			want = append(want, array{key: l.Weights, rows: l.In, cols: l.Out})
		}
	}
	arrays, err := decodeNPZ(npz, want)
	if err != nil {
		return fail(npzPath, err)
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

	// Replay the reference vectors on the ideal device, three ways.
	nref := len(m.References)
	vals := make([]uint8, 0, nref*net.Inputs())
	for _, r := range m.References {
		for _, v := range r.Values {
			vals = append(vals, uint8(v))
		}
	}
	outs, err := net.Trace(context.Background(), &analogmac.Ideal{GainPerSend: m.GainPerSend}, vals, nref, nil)
	if err != nil {
		return nil, nil, &Error{Op: op, File: path, Msg: "replaying the reference vectors", Err: err}
	}
	for i, r := range m.References {
		var got Inference
		for j := range outs {
			n := len(outs[j]) / nref
			got.Outputs = append(got.Outputs, outs[j][i*n:(i+1)*n])
		}
		got.Logits = got.Outputs[len(got.Outputs)-1]
		got.Class = argmax(ints(got.Logits))
		if err := compareReference(i, r, got, "the ideal device"); err != nil {
			return fail(path, err)
		}
	}
	if err := checkGraph(net, m.References); err != nil {
		return fail(path, err)
	}
	if err := m.replayInfer(weights); err != nil {
		return fail(path, err)
	}
	return net, m, nil
}
