package models

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestBuiltinsRebuildFromTheirResolvedSpec: a network's Spec is complete:
// built again, through JSON, it gives the same Spec and the same layers.
func TestBuiltinsRebuildFromTheirResolvedSpec(t *testing.T) {
	for _, name := range Builtins() {
		in, classes := geometryFor(name)
		net, err := New(name, in, classes)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(net.Spec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSpec(b)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Build(back, in, classes)
		if err != nil {
			t.Fatalf("%s: resolved spec refused: %v", name, err)
		}
		if !reflect.DeepEqual(again.Spec, net.Spec) || !reflect.DeepEqual(again.Describe(), net.Describe()) {
			t.Errorf("%s: rebuilt network differs:\n%+v\n%+v", name, again.Describe(), net.Describe())
		}
		for _, l := range again.Spec.Layers {
			if (l.Type == Dense || l.Type == Conv2d) && (l.Sends == 0 || l.Placement == nil || l.Name == "") {
				t.Errorf("%s: layer %+v not resolved", name, l)
			}
			if l.Type == ConvertingReLU && l.Shift == nil {
				t.Errorf("%s: converting_relu without its shift", name)
			}
		}
	}
	if got := BSS2MNIST(); got.Layers[0].Kernel != 10 {
		t.Errorf("bss2-mnist conv kernel %d", got.Layers[0].Kernel)
	}
}

// TestMNISTNetworkSends: the derived sends are those of the reference run.
func TestMNISTNetworkSends(t *testing.T) {
	net, err := New(BSS2MNISTName, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := net.Sends(); !reflect.DeepEqual(got, []int{7, 3, 6}) {
		t.Errorf("sends %v, want [7 3 6]", got)
	}
}

// TestPerLayerShifts: two activations with different shifts keep them.
func TestPerLayerShifts(t *testing.T) {
	s := BSS2MNIST()
	s.Layers[1].Shift = intp(2)
	s.Layers[4].Shift = intp(0)
	net, err := Build(s, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	if *net.Spec.Layers[1].Shift != 2 || *net.Spec.Layers[4].Shift != 0 {
		t.Errorf("shifts %d and %d, want 2 and 0", *net.Spec.Layers[1].Shift, *net.Spec.Layers[4].Shift)
	}
	if d := net.Describe(); d[1].Shift != 2 || d[4].Shift != 0 {
		t.Errorf("layers describe shifts %d and %d", d[1].Shift, d[4].Shift)
	}
}

// TestBuildRefusesBadSpecs: every bad description is refused before
// anything runs, naming the layer and the field.
func TestBuildRefusesBadSpecs(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Spec)
		wants string
	}{
		{"unknown type", func(s *Spec) { s.Layers[1].Type = "relu" }, `layer 1 (relu): field "type"`},
		{"missing type", func(s *Spec) { s.Layers[2].Type = "" }, `layer 2 (): field "type"`},
		{"zero kernel", func(s *Spec) { s.Layers[0].Kernel = 0 }, `layer 0 (conv2d): field "kernel"`},
		{"kernel too big", func(s *Spec) { s.Layers[0].Kernel = 40 }, `layer 0 (conv2d): field "kernel"`},
		{"padding", func(s *Spec) { s.Layers[0].Padding = -1 }, `layer 0 (conv2d): field "padding"`},
		{"shift 9", func(s *Spec) { s.Layers[1].Shift = intp(9) }, `layer 1 (converting_relu): field "shift"`},
		{"shift on dense", func(s *Spec) { s.Layers[3].Shift = intp(1) }, `layer 3 (dense): field "shift"`},
		{"kernel on dense", func(s *Spec) { s.Layers[3].Kernel = 3 }, `layer 3 (dense): field "kernel"`},
		{"sends on relu", func(s *Spec) { s.Layers[4].Sends = 2 }, `layer 4 (converting_relu): field "sends"`},
		{"out on flatten", func(s *Spec) { s.Layers[2].Out = 3 }, `layer 2 (flatten): field "out"`},
		{"sends 2000", func(s *Spec) { s.Layers[3].Sends = 2000 }, `layer 3 (dense): field "sends"`},
		{"huge out", func(s *Spec) { s.Layers[3].Out = 1 << 30 }, `layer 3 (dense): field "out"`},
		{"last out", func(s *Spec) { s.Layers[5].Out = 9 }, `layer 5 (dense): field "out"`},
		{"placement", func(s *Spec) { s.Layers[5].Placement.Column = 600 }, `layer 5 (dense): field "placement"`},
		{"name", func(s *Spec) { s.Layers[3].Name = "a/b" }, `layer 3 (dense): field "name"`},
		{"duplicate name", func(s *Spec) { s.Layers[5].Name = "dense1" }, `layer 5 (dense): field "name"`},
		{"no relu between", func(s *Spec) { s.Layers[4] = LayerSpec{Type: Flatten} }, `layer 5 (dense): field "type"`},
		{"ends in relu", func(s *Spec) { s.Layers = s.Layers[:5] }, `layer 4 (converting_relu): field "type"`},
		{"no flatten", func(s *Spec) { s.Layers = append(s.Layers[:2], s.Layers[3:]...) }, `field "type"`},
		{"classes", func(s *Spec) { s.Classes = 3 }, `network: field "classes"`},
		{"input", func(s *Spec) { s.Input.Height = 27 }, `network: field "input"`},
		{"gain", func(s *Spec) { s.GainPerSend = -1 }, `network: field "gain_per_send"`},
		{"no layers", func(s *Spec) { s.Layers = nil }, `network: field "layers"`},
	}
	for _, c := range cases {
		s := BSS2MNIST().Clone()
		c.edit(&s)
		_, err := Build(s, mnistInput, 10)
		var se *SpecError
		if !errors.As(err, &se) || !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%s: got %v, want a SpecError containing %s", c.name, err, c.wants)
		}
	}
	// Clone is deep: the edits above did not reach the built-in.
	if !reflect.DeepEqual(BSS2MNIST(), BSS2MNIST().Clone()) || *BSS2MNIST().Layers[1].Shift != 1 {
		t.Error("BSS2MNIST changed")
	}
}

func TestReadSpec(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "net.json")
	os.WriteFile(good, []byte(`{"name": "tiny", "layers": [{"type": "dense", "out": 16}, {"type": "converting_relu"}, {"type": "dense"}]}`), 0o644)
	s, err := ReadSpec(good)
	if err != nil {
		t.Fatal(err)
	}
	net, err := Build(s, Input{Height: 1, Width: 4, Channels: 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := net.Spec.Layers[2].Out; got != 3 || net.Spec.Layers[0].Name != "dense0" || *net.Spec.Layers[1].Shift != 1 {
		t.Errorf("resolved %+v", net.Spec.Layers)
	}
	for name, body := range map[string]string{
		"unknown field": `{"layers": [{"type": "dense", "outs": 3}]}`,
		"trailing":      `{"layers": []} {}`,
		"not json":      `layers: dense`,
	} {
		p := filepath.Join(dir, "bad.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadSpec(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
	if _, err := ReadSpec(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: got %v", err)
	}
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, make([]byte, MaxSpecBytes+10), 0o644)
	if _, err := ReadSpec(big); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("a huge file: got %v", err)
	}
}

// TestDocsExampleBuilds: the description in docs/networks.md is valid.
func TestDocsExampleBuilds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "networks.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "```json\n")
	end := strings.Index(doc[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("docs/networks.md has no json block")
	}
	s, err := ParseSpec([]byte(doc[start+8 : start+8+end]))
	if err != nil {
		t.Fatal(err)
	}
	net, err := Build(s, mnistInput, 10)
	if err != nil {
		t.Fatal(err)
	}
	if net.Spec.Name != "tiny-mlp" || len(net.Analog()) != 2 || net.Analog()[1].Out != 10 {
		t.Errorf("built %+v", net.Spec)
	}
}

// TestBuildRefusesOverflowingInput: sizes whose product overflows an int
// are refused, not wrapped round to something small.
func TestBuildRefusesOverflowingInput(t *testing.T) {
	huge := Input{Height: 1 << 31, Width: 1 << 31, Channels: 4} // product wraps to 0
	if _, err := Build(MLP(8), huge, 3); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("got %v, want a refusal", err)
	}
}
