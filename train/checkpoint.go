package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/analogloop/analogloop/internal/atomicfile"
	"github.com/analogloop/analogloop/internal/inputfile"
	"github.com/analogloop/analogloop/layers"
)

// checkpointVersion changes whenever Checkpoint's meaning changes.
const checkpointVersion = 2

// MaxCheckpointBytes bounds a checkpoint read: the largest network a Spec
// allows (2^24 weights) with its Adam state is 192 MiB.
const MaxCheckpointBytes = 512 << 20

// CheckpointFile is the checkpoint's name inside the output directory.
const CheckpointFile = "checkpoint.gob"

// Checkpoint is everything a run needs to continue exactly where it
// stopped: the position (phase, epoch, next batch), the weights, the
// optimiser, the partial epoch's sums and all results so far.
type Checkpoint struct {
	Version int
	Config  Config
	Phase   string // the phase in progress or next to start
	Epoch   int    // epoch in progress within Phase
	Partial Partial
	Weights [][]float32
	Adam    layers.AdamState
	Results Results
}

// Partial holds an unfinished epoch's position and running sums.
type Partial struct {
	Batch   int // next batch to train
	LossSum float64
	Correct int
	Seconds float64
}

// Save writes the checkpoint atomically: to a temporary file in the same
// directory, synced, then renamed over the old one, so that an interruption
// at any moment leaves either the old or the new checkpoint, never half.
// The payload is followed by its SHA-256 so that damage is detected.
func (c *Checkpoint) Save(dir string) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("train: encoding checkpoint: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return atomicfile.Write(filepath.Join(dir, CheckpointFile), buf.Bytes())
}

// ErrDamagedCheckpoint is a checkpoint that fails its checksum or cannot be
// decoded.
var ErrDamagedCheckpoint = errors.New("damaged checkpoint")

// LoadCheckpoint reads dir's checkpoint; fs.ErrNotExist when there is none,
// ErrDamagedCheckpoint when it is damaged.
func LoadCheckpoint(dir string) (*Checkpoint, error) {
	path := filepath.Join(dir, CheckpointFile)
	b, err := inputfile.Read(path, MaxCheckpointBytes)
	if err != nil {
		if errors.Is(err, inputfile.ErrNotRegular) || errors.Is(err, inputfile.ErrTooLarge) {
			return nil, fmt.Errorf("train: %w: %w", ErrDamagedCheckpoint, err)
		}
		return nil, err
	}
	if len(b) < sha256.Size {
		return nil, fmt.Errorf("train: %s: %d bytes, too short to be a checkpoint: %w", path, len(b), ErrDamagedCheckpoint)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("train: %s: checksum mismatch: the file is damaged: %w", path, ErrDamagedCheckpoint)
	}
	// The version first: gob skips the fields a struct does not name, so
	// an older checkpoint is named as such rather than as damaged.
	var head struct{ Version int }
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&head); err != nil {
		return nil, fmt.Errorf("train: %s: %w: %v", path, ErrDamagedCheckpoint, err)
	}
	if head.Version != checkpointVersion {
		return nil, fmt.Errorf("train: %s: checkpoint version %d, this program reads version %d: finish that run with the version that started it", path, head.Version, checkpointVersion)
	}
	var c Checkpoint
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&c); err != nil {
		return nil, fmt.Errorf("train: %s: %w: %v", path, ErrDamagedCheckpoint, err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("train: %s: checkpoint version %d, this program reads version %d", path, c.Version, checkpointVersion)
	}
	return &c, nil
}

// checkWritable proves dir can take the run's files before any work.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: output directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".writable*")
	if err != nil {
		return fmt.Errorf("train: output directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
