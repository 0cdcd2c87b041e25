package mnisttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Files are the base names of the four MNIST files; each may be present
// plain or with a .gz suffix. (Duplicated from package mnist, whose own
// tests import this package.)
var Files = []string{
	"train-images-idx3-ubyte",
	"train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte",
	"t10k-labels-idx1-ubyte",
}

// Dir returns the absolute MNIST directory named by $MNIST_DIR, or skips
// (fails under CI=true) the test when it is unset or incomplete.
func Dir(tb testing.TB) string {
	tb.Helper()
	env := os.Getenv("MNIST_DIR")
	dir, problem := Resolve(env)
	if problem != "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("real MNIST data required under CI=true: %s", problem)
		}
		if env != "" {
			tb.Fatalf("MNIST_DIR is set but unusable: %s (give an absolute path, or unset it to skip the real-data tests)", problem)
		}
		tb.Skipf("real MNIST data unavailable: %s", problem)
	}
	return dir
}

// Resolve turns a $MNIST_DIR value into an absolute directory and checks
// that it holds the four files. problem is empty when all is well.
func Resolve(env string) (dir, problem string) {
	if env == "" {
		return "", "MNIST_DIR is not set (e.g. MNIST_DIR=../shared/mnist, relative to the module root)"
	}
	dir = env
	if !filepath.IsAbs(dir) {
		base, err := os.Getwd()
		if err != nil {
			return "", "cannot get the working directory: " + err.Error()
		}
		if root := ModuleRoot(base); root != "" {
			base = root
		}
		dir = filepath.Join(base, dir)
	}
	var missing []string
	for _, f := range Files {
		if !isFile(filepath.Join(dir, f)) && !isFile(filepath.Join(dir, f+".gz")) {
			missing = append(missing, f+"[.gz]")
		}
	}
	if len(missing) > 0 {
		return dir, "MNIST_DIR=" + env + " (" + dir + ") lacks " + strings.Join(missing, ", ")
	}
	return dir, ""
}

// ModuleRoot returns the nearest directory at or above dir that holds
// go.mod, or "" when there is none.
func ModuleRoot(dir string) string {
	for {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
