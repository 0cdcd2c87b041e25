package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	return importManifest(path, raw)
}

func importManifest(path string, raw []byte) (*models.Network, *Manifest, error) {
	fail := func(file string, err error) (*models.Network, *Manifest, error) {
		return nil, nil, asError("import", file, ErrTampered, err)
	}
	m, net, err := parseManifest(raw)
	if err != nil {
		return nil, nil, asError("import", path, ErrNotExport, err)
	}
	m.path = path

	// The weights: beside the manifest, of the recorded size and SHA-256.
	npzPath := filepath.Join(filepath.Dir(path), m.Weights.File)
	npz, err := readRegular("import", npzPath, m.Weights.Bytes, "weights.bytes")
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
		return nil, nil, &Error{Op: "import", File: path, Msg: "replaying the reference vectors", Err: err}
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

// readRegular reads the regular file at path, refusing anything else (a
// directory, a device such as /dev/zero, a FIFO, a socket) and a file
// larger than limit before reading a byte of it, so that a hostile path
// costs neither unbounded time nor memory. When sizeField is set, limit is
// the size a manifest records there and the file must have exactly that
// size (ErrTampered otherwise); when not, a larger file is ErrNotExport.
func readRegular(op, path string, limit int64, sizeField string) ([]byte, error) {
	b, size, err := readBounded(path, limit)
	switch {
	case err == errNotRegular:
		return nil, &Error{Op: op, File: path, Msg: fmt.Sprintf("not a regular file but %s", size), Kind: ErrNotExport}
	case err == errTooLarge && sizeField == "":
		return nil, &Error{Op: op, File: path, Msg: fmt.Sprintf("%s: larger than the %d bytes the format allows", size, limit), Kind: ErrNotExport}
	case err == errTooLarge:
		return nil, &Error{Op: op, File: path, Field: sizeField, Msg: fmt.Sprintf("the file has %s, the manifest records %d", size, limit), Kind: ErrTampered}
	case err != nil:
		return nil, &Error{Op: op, File: path, Err: err}
	case sizeField != "" && int64(len(b)) != limit:
		return nil, &Error{Op: op, File: path, Field: sizeField, Msg: fmt.Sprintf("the file has %d bytes, the manifest records %d", len(b), limit), Kind: ErrTampered}
	}
	return b, nil
}
