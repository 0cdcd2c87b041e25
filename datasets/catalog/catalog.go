package catalog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/mnist"
	"github.com/analogloop/analogloop/datasets/yinyang"
)

// Names lists the datasets Open knows.
func Names() []string { return []string{"mnist", "fashion-mnist", yinyang.Name} }

// Options say where files are and how to report. Dir applies to the file
// datasets (MNIST, Fashion-MNIST): when set, only it is searched.
type Options struct {
	Dir string
	// TestOnly loads only the test split where that saves work (Data.Train
	// may then be nil): evaluating a network needs no training data.
	TestOnly bool
	Progress io.Writer
	Logger   *slog.Logger
}

// Open loads or generates the named dataset.
func Open(ctx context.Context, name string, o Options) (*datasets.Data, error) {
	switch name {
	case "mnist", "fashion-mnist":
		return mnist.Load(ctx, mnist.Options{Dataset: name, Dir: o.Dir, TestOnly: o.TestOnly, Progress: o.Progress, Logger: o.Logger})
	case yinyang.Name:
		if o.Dir != "" {
			return nil, fmt.Errorf("catalog: %s is generated, not read: it takes no directory (%s)", name, o.Dir)
		}
		return yinyang.Load(yinyang.Options{})
	}
	return nil, fmt.Errorf("catalog: unknown dataset %q: want one of %s", name, strings.Join(Names(), ", "))
}

// Known reports whether Open knows name.
func Known(name string) bool {
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}
