package rundir

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/analogloop/analogloop/internal/atomicfile"
)

func TestSecondLockRefusedNamingTheHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	d, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v, want ErrLocked naming PID %d", err, os.Getpid())
	}
	if err := d.Unlock(); err != nil {
		t.Fatal(err)
	}
	d2, err := Lock(dir)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	d2.Unlock()
}

// TestStaleLockTakenOver: a process killed with SIGKILL while holding the
// lock leaves the lock file; the next Lock takes it over.
func TestStaleLockTakenOver(t *testing.T) {
	if os.Getenv("RUNDIR_HOLD") != "" {
		if _, err := Lock(os.Getenv("RUNDIR_HOLD")); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestStaleLockTakenOver$")
	cmd.Env = append(os.Environ(), "RUNDIR_HOLD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("holder did not lock: %q %v", buf, err)
	}
	var le *LockedError
	if _, err := Lock(dir); !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Fatalf("while the holder lives: %v, want its PID %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill() // SIGKILL: no chance to unlock
	cmd.Wait()
	d, err := Lock(dir)
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	defer d.Unlock()
	b, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file says %q, want our PID", b)
	}
}

// TestLockRemovesHalfWrittenFiles: what a killed atomic write leaves is
// gone after the next Lock; the real files and others' files stay.
func TestLockRemovesHalfWrittenFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".checkpoint.gob.tmp-123", ".export-hil.npz.tmp-42", "checkpoint.gob", ".notes.tmp-x", "keep.tmp-1"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	if err := atomicfile.Write(filepath.Join(dir, "results.json"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	d, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	slices.Sort(d.Removed)
	if want := []string{".checkpoint.gob.tmp-123", ".export-hil.npz.tmp-42"}; !slices.Equal(d.Removed, want) {
		t.Errorf("removed %v, want %v", d.Removed, want)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{LockFile, ".notes.tmp-x", "checkpoint.gob", "keep.tmp-1", "results.json"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
