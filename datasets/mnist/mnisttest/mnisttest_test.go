package mnisttest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestModuleRoot(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := ModuleRoot(wd)
	if root == "" || filepath.Join(root, "datasets", "mnist", "mnisttest") != wd {
		t.Errorf("ModuleRoot(%q) = %q", wd, root)
	}
	if r := ModuleRoot(t.TempDir()); r != "" {
		t.Errorf("a temp dir has module root %q", r)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	if _, p := Resolve(""); !strings.Contains(p, "MNIST_DIR is not set") {
		t.Errorf("unset: %q", p)
	}
	if _, p := Resolve(dir); !strings.Contains(p, "train-images-idx3-ubyte[.gz]") || !strings.Contains(p, "t10k-labels-idx1-ubyte[.gz]") {
		t.Errorf("empty dir: %q", p)
	}
	for i, f := range Files {
		name := f
		if i%2 == 0 {
			name += ".gz" // either form counts
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, p := Resolve(dir); got != dir || p != "" {
		t.Errorf("complete dir: %q, %q", got, p)
	}
	// A relative value is taken from the module root, not from this
	// package's directory.
	wd, _ := os.Getwd()
	root := ModuleRoot(wd)
	if got, _ := Resolve("datasets/x"); got != filepath.Join(root, "datasets", "x") {
		t.Errorf("relative: %q, want under %q", got, root)
	}
}

// fakeTB records how Dir ended the test.
type fakeTB struct {
	testing.TB
	how string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.how = "fatal"
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.how = "skip"
	runtime.Goexit()
}

func runDir(t *testing.T) string {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Dir(f)
		f.how = "returned"
	}()
	<-done
	return f.how
}

func TestDirSkipsOrFailsUnderCI(t *testing.T) {
	t.Setenv("MNIST_DIR", "")
	t.Setenv("CI", "")
	if how := runDir(t); how != "skip" {
		t.Errorf("developer machine without data: %s, want skip", how)
	}
	t.Setenv("MNIST_DIR", filepath.Join(t.TempDir(), "no-such-dir"))
	if how := runDir(t); how != "fatal" {
		t.Errorf("developer machine, MNIST_DIR set to a wrong place: %s, want fatal", how)
	}
	t.Setenv("MNIST_DIR", "")
	t.Setenv("CI", "true")
	if how := runDir(t); how != "fatal" {
		t.Errorf("CI without data: %s, want fatal", how)
	}
	t.Setenv("MNIST_DIR", t.TempDir()) // set, but empty
	if how := runDir(t); how != "fatal" {
		t.Errorf("CI with an empty dir: %s, want fatal", how)
	}
}
