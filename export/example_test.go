package export_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/analogloop/analogloop/datasets/yinyang"
	"github.com/analogloop/analogloop/export"
	"github.com/analogloop/analogloop/models"
)

// Export a small network for the Yin-Yang task to a temporary directory,
// import it back, and check that it reproduces its recorded accuracy.
func Example() {
	ctx := context.Background()
	test, err := yinyang.Set(200, yinyang.DefaultTestSeed)
	if err != nil {
		panic(err)
	}
	net, err := models.Build(models.YinYang(), models.Input{Height: 1, Width: 4, Channels: 1}, yinyang.Classes)
	if err != nil {
		panic(err)
	}
	net.Init(1) // untrained, seeded weights: enough to show the round trip

	// Here the accuracy is measured on the ideal device itself; a training
	// run records its trials on the chip instead.
	acc, err := export.IdealAccuracy(ctx, net, test)
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "export-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	_, err = export.Export(dir, "yinyang", net, export.Info{
		Dataset:  yinyang.Name,
		Device:   export.IdealDevice(net).Spec(),
		Accuracy: export.AccuracyStats{Mean: acc, Trials: []float64{acc}},
		// Both accuracies are over the first IdealSamples test samples.
		IdealAccuracy: acc, IdealSamples: test.N,
	}, test)
	if err != nil {
		panic(err)
	}

	imported, m, err := export.Import(filepath.Join(dir, "yinyang.json"))
	if err != nil {
		panic(err)
	}
	again, err := m.CheckAccuracy(ctx, imported, test)
	if err != nil {
		panic(err)
	}
	fmt.Println("format version:", m.FormatVersion)
	for _, l := range m.Layers {
		if l.Weights != "" {
			fmt.Printf("%s: %s %v in %d tile(s) at column %d\n", l.Name, l.DType, l.Shape, len(l.Tiles), l.Placement.Column)
		}
	}
	fmt.Println("reference vectors:", len(m.References))
	fmt.Println("accuracy reproduced:", again == m.IdealAccuracy)
	// Output:
	// format version: 2
	// dense1: int8 [4 120] in 1 tile(s) at column 0
	// dense2: int8 [120 3] in 1 tile(s) at column 256
	// reference vectors: 8
	// accuracy reproduced: true
}

// Tell a file that is not an export from a damaged one.
func ExampleImport_errors() {
	dir, err := os.MkdirTemp("", "export-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "old.json")
	if err := os.WriteFile(path, []byte(`{"format_version": 1, "created_by": "analogloop"}`), 0o644); err != nil {
		panic(err)
	}
	_, _, err = export.Import(path)
	var e *export.Error
	fmt.Println(errors.Is(err, export.ErrNotExport), errors.Is(err, export.ErrVersion), errors.Is(err, export.ErrTampered))
	if errors.As(err, &e) {
		fmt.Println("field:", e.Field)
	}
	// Output:
	// true true false
	// field: format_version
}
