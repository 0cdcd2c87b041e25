//go:build unix

package export

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestImportHostileFiles: a manifest or npz path that is not a regular
// file, or a huge file, is refused at once, without reading it.
func TestImportHostileFiles(t *testing.T) {
	src, _ := tamperSource(t)
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse.json")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(10 << 30); err != nil { // 10 GB, no blocks
		t.Fatal(err)
	}
	f.Close()

	// The npz replaced by a FIFO, /dev/zero, a sparse file, a directory.
	npzAs := func(t *testing.T, make func(path string) error) string {
		d := copyExport(t, src)
		rm(t, d, "net.npz")
		if err := make(filepath.Join(d, "net.npz")); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(d, "net.json")
	}
	cases := []struct {
		name, path string
		kind       error
		want       string
	}{
		{"/dev/zero", "/dev/zero", ErrNotExport, "character device"},
		{"fifo", filepath.Join(dir, "fifo.json"), ErrNotExport, "FIFO"},
		{"sparse 10 GB", sparse, ErrNotExport, "10737418240 bytes"},
		{"directory", dir, ErrNotExport, "directory"},
		{"npz a fifo", npzAs(t, func(p string) error { return syscall.Mkfifo(p, 0o644) }), ErrNotExport, "FIFO"},
		{"npz /dev/zero", npzAs(t, func(p string) error { return os.Symlink("/dev/zero", p) }), ErrNotExport, "character device"},
		{"npz sparse 10 GB", npzAs(t, func(p string) error { return os.Symlink(sparse, p) }), ErrTampered, "10737418240 bytes"},
		{"npz a directory", npzAs(t, func(p string) error { return os.Mkdir(p, 0o755) }), ErrNotExport, "directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() {
				_, _, err := Import(c.path)
				done <- err
			}()
			select {
			case err := <-done:
				runtime.ReadMemStats(&after)
				if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want %v naming %q", err, c.kind, c.want)
				}
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
					t.Errorf("allocated %d MB to refuse it", grew>>20)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Import blocked")
			}
		})
	}
}
