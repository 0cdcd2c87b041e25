package models

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzBuildSpec: any bytes given as a network description are parsed and
// built without a panic, and what is refused is refused as a SpecError (or
// a parse error); what is built rebuilds from its resolved Spec.
func FuzzBuildSpec(f *testing.F) {
	for _, name := range Builtins() {
		s, _ := Builtin(name)
		b, _ := json.Marshal(s)
		f.Add(b, uint8(28), uint8(28), uint8(1), uint8(10))
	}
	f.Add([]byte(`{"layers":[{"type":"conv2d","out":3,"kernel":3},{"type":"converting_relu"},{"type":"dense"}]}`), uint8(5), uint8(5), uint8(2), uint8(3))
	f.Add([]byte(`{"layers":[{"type":"dense","out":4},{"type":"converting_relu","shift":7},{"type":"flatten"},{"type":"dense","sends":1024}]}`), uint8(1), uint8(4), uint8(1), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, h, w, c, classes uint8) {
		s, err := ParseSpec(b)
		if err != nil {
			return
		}
		in := Input{Height: int(h%64) + 1, Width: int(w%64) + 1, Channels: int(c%4) + 1}
		net, err := Build(s, in, int(classes))
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Build refused with %T %v, not a SpecError", err, err)
			}
			return
		}
		again, err := Build(net.Spec, in, int(classes))
		if err != nil {
			t.Fatalf("the resolved spec of a built network is refused: %v", err)
		}
		if len(again.Params()) != len(net.Params()) {
			t.Fatal("rebuilt network differs")
		}
	})
}
