package inputfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestReadRegular(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("hello"), 0o644)
	b, err := Read(p, 5)
	if err != nil || !bytes.Equal(b, []byte("hello")) {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if _, err := Read(p, 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("5 bytes with max 4: %v", err)
	}
}

// TestRefusesHostileFiles: /dev/zero, a FIFO without writer, a directory
// and a 10 GB sparse file are refused at once, without reading.
func TestRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(10 << 30); err != nil {
		t.Skipf("cannot make a 10 GB sparse file here: %v", err)
	}
	f.Close()
	for _, c := range []struct {
		path string
		want error
	}{{"/dev/zero", ErrNotRegular}, {fifo, ErrNotRegular}, {dir, ErrNotRegular}, {sparse, ErrTooLarge}} {
		done := make(chan error, 1)
		go func() {
			_, err := Read(c.path, 1<<20)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, c.want) {
				t.Errorf("%s: got %v, want %v", c.path, err, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Read still blocked after 5 s", c.path)
		}
	}
}
