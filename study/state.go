package study

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/analogloop/analogloop/internal/atomicfile"
)

// A study keeps every finished stage (a trained network and what was
// measured of it) in StateDir inside its output directory, so that an
// interrupted study continues where it stopped and loses no finished
// stage. Each file carries the study's fingerprint (its configuration,
// the data and stateVersion): a stage of another study is refused, never
// mixed in.

// StateDir is the state's directory inside the output directory; it is
// removed when the study completes (unless Options.KeepState).
const StateDir = ".study-state"

// stateVersion changes whenever a stage's meaning changes.
const stateVersion = 1

// maxStateBytes bounds a stage file read back.
const maxStateBytes = 64 << 20

var stageName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,63}$`)

// stage is one finished stage as saved.
type stage struct {
	Version     int
	Fingerprint string
	Name        string
	Weights     [][]float32 // the stage's network, if it has one
	Result      []byte      // the stage's results as JSON
	// Wall is the study's wall time, over all its sessions, when the stage
	// finished.
	Wall float64
}

// ErrForeignState is a state directory left by a study with another
// configuration or data.
var ErrForeignState = errors.New("study: the output directory holds another study's state")

// fingerprint identifies a study: its configuration and data and the
// state's version.
func fingerprint(cfg Config, data any) (string, error) {
	b, err := json.Marshal(struct {
		Version int
		Config  Config
		Data    any
	}{stateVersion, cfg, data})
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

func statePath(out, name string) string { return filepath.Join(out, StateDir, name+".gob") }

// saveStage writes a stage atomically, followed by the SHA-256 of its
// encoding.
func saveStage(out, fp, name string, weights [][]float32, result any, wall float64) error {
	if !stageName.MatchString(name) {
		return fmt.Errorf("study: stage name %q", name)
	}
	rb, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("study: stage %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(stage{Version: stateVersion, Fingerprint: fp, Name: name, Weights: weights, Result: rb, Wall: wall}); err != nil {
		return fmt.Errorf("study: stage %s: %w", name, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	if err := os.MkdirAll(filepath.Join(out, StateDir), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(statePath(out, name), buf.Bytes())
}

// loadStage reads a finished stage into result and returns its weights
// and wall time; found is false when the stage has not finished yet.
func loadStage(out, fp, name string, result any) (weights [][]float32, wall float64, found bool, err error) {
	path := statePath(out, name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	if !st.Mode().IsRegular() || st.Size() > maxStateBytes || st.Size() < sha256.Size {
		return nil, 0, false, fmt.Errorf("study: %s: not a stage file (a regular file of %d..%d bytes)", path, sha256.Size, maxStateBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return nil, 0, false, err
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if s := sha256.Sum256(body); !bytes.Equal(s[:], sum) {
		return nil, 0, false, fmt.Errorf("study: %s: damaged (checksum): delete it to redo the stage", path)
	}
	var s stage
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&s); err != nil {
		return nil, 0, false, fmt.Errorf("study: %s: damaged: %v: delete it to redo the stage", path, err)
	}
	if s.Version != stateVersion || s.Fingerprint != fp || s.Name != name {
		return nil, 0, false, fmt.Errorf("%w: %s was written by a study with another configuration, data or version: delete %s or choose another output directory",
			ErrForeignState, path, filepath.Dir(path))
	}
	if err := json.Unmarshal(s.Result, result); err != nil {
		return nil, 0, false, fmt.Errorf("study: %s: %v", path, err)
	}
	return s.Weights, s.Wall, true, nil
}

// testHookSaved, for tests, sees every stage saved.
var testHookSaved func(name string)

// save saves a finished stage with the study's wall time so far.
func (r *runner) save(name string, weights [][]float32, result any) error {
	if err := saveStage(r.opt.Out, r.fp, name, weights, result, r.wall()); err != nil {
		return err
	}
	if testHookSaved != nil {
		testHookSaved(name)
	}
	return nil
}

// load loads a finished stage (see loadStage); a loaded stage marks the
// study as continued and carries its sessions' wall time forward.
func (r *runner) load(name string, result any) ([][]float32, bool, error) {
	w, wall, found, err := loadStage(r.opt.Out, r.fp, name, result)
	if found {
		r.res.Resumed = true
		r.priorWall = max(r.priorWall, wall)
		r.log.Info("stage loaded", "stage", name)
	}
	return w, found, err
}
