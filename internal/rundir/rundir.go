package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/analogloop/analogloop/internal/atomicfile"
)

// LockFile is the lock's name inside the directory.
const LockFile = ".lock"

// ErrLocked is a directory another live process holds.
var ErrLocked = errors.New("run directory in use")

// LockedError names the holder.
type LockedError struct {
	Dir string
	PID int // 0 when the lock file does not say
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("%s is in use by %s (lock %s): wait for it to finish, or stop it", e.Dir, who, filepath.Join(e.Dir, LockFile))
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Dir is a locked run directory.
type Dir struct {
	Path    string
	Removed []string // half-written files Lock removed
	f       *os.File
}

// Lock creates dir if needed, locks it and removes the leftovers of killed
// writes. Unlock releases it.
func Lock(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// Ours now, whatever an earlier holder wrote.
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	d := &Dir{Path: dir, f: f}
	if d.Removed, err = atomicfile.Cleanup(dir); err != nil {
		d.Unlock()
		return nil, err
	}
	return d, nil
}

// Unlock releases the directory. The lock file stays (removing it would
// race with a process locking it); it is harmless without its lock.
func (d *Dir) Unlock() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close() // closing releases the flock
	d.f = nil
	return err
}
