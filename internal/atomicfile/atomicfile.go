package atomicfile

import (
	"os"
	"path/filepath"
	"regexp"
)

// tempName matches the temporary files Write creates: "." + the final
// name + ".tmp-" + os.CreateTemp's random digits.
var tempName = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// Cleanup removes from dir the temporary files of writes whose process was
// killed before it could rename or remove them, and returns their names.
// Only call it while no other process writes to dir (see internal/rundir).
func Cleanup(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !tempName.MatchString(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// Write writes data to path through a temporary file in the same
// directory, synced, then renamed over path, so that a reader sees the old
// file or the new one, never a part.
func Write(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable where the system allows syncing a directory.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
