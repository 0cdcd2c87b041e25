package calib

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
)

func TestWriteReadRoundTrip(t *testing.T) {
	_, cal := characterized(t, 1, analogmac.DefaultChipConfig())
	path := filepath.Join(t.TempDir(), "cal.json")
	if err := cal.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cal) {
		t.Fatal("the calibration read back differs from the one written")
	}
	// The file is plain JSON that any reader takes.
	b, _ := os.ReadFile(path)
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(b) > MaxFileBytes/4 {
		t.Errorf("the file takes %d bytes: far more than expected", len(b))
	}
}

// mutate returns the JSON of a valid calibration with one change applied
// to its generic form.
func mutate(t *testing.T, cal *Calibration, f func(m map[string]any)) []byte {
	t.Helper()
	b, err := json.Marshal(cal)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseRefuses(t *testing.T) {
	_, full := characterized(t, 1, analogmac.DefaultChipConfig())
	cal := *full
	syn := *full.Synapses
	cal.Synapses = &syn
	col := func(m map[string]any, i int) map[string]any { return m["columns"].([]any)[i].(map[string]any) }
	cases := []struct {
		name, want string
		f          func(m map[string]any)
	}{
		{"format", "format", func(m map[string]any) { m["format"] = "something-else" }},
		{"version", "this build reads only version 1", func(m map[string]any) { m["version"] = 2 }},
		{"unknown field", "unknown field", func(m map[string]any) { m["extra"] = 1 }},
		{"few columns", "columns: 511 entries", func(m map[string]any) { m["columns"] = m["columns"].([]any)[:511] }},
		{"negative gain", "columns[7].gain", func(m map[string]any) { col(m, 7)["gain"] = -1.0 }},
		{"huge offset", "columns[3].offset", func(m map[string]any) { col(m, 3)["offset"] = 1e6 }},
		{"zero linear", "columns[0].pos.linear", func(m map[string]any) { col(m, 0)["pos"].(map[string]any)["linear"] = 0.0 }},
		{"headroom", "columns[511].neg.headroom", func(m map[string]any) { col(m, 511)["neg"].(map[string]any)["headroom"] = 1e9 }},
		{"noise", "columns[5].noise", func(m map[string]any) { col(m, 5)["noise"] = -0.1 }},
		{"gain per send", "gain_per_send", func(m map[string]any) { m["gain_per_send"] = 0.0 }},
		{"protocol", "protocol.curve_repeats", func(m map[string]any) { m["protocol"].(map[string]any)["curve_repeats"] = 1 }},
		{"device", "device.kind", func(m map[string]any) { m["device"].(map[string]any)["kind"] = "" }},
		{"synapse value", "synapses.inhibitory[4][9]", func(m map[string]any) {
			m["synapses"].(map[string]any)["inhibitory"].([]any)[4].([]any)[9] = 5000
		}},
		{"synapse rows", "synapses.excitatory: 127 rows", func(m map[string]any) {
			s := m["synapses"].(map[string]any)
			s["excitatory"] = s["excitatory"].([]any)[:127]
		}},
		{"synapse overflow", "cannot unmarshal", func(m map[string]any) {
			m["synapses"].(map[string]any)["excitatory"].([]any)[0].([]any)[0] = 1e6
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(mutate(t, &cal, tc.f))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrInvalid naming %q", err, tc.want)
			}
		})
	}
	good, _ := json.Marshal(&cal)
	if _, err := Parse(append(good, []byte(` {}`)...)); err == nil || !strings.Contains(err.Error(), "after the JSON object") {
		t.Errorf("trailing data: %v", err)
	}
	if _, err := Parse(good); err != nil {
		t.Fatalf("the unchanged file is refused: %v", err)
	}
}

func TestReadRefusesFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing.json")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	// A file over the bound is refused from its size, without reading it.
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Read(big); err == nil || !strings.Contains(err.Error(), "a calibration file has at most") {
		t.Errorf("an oversized file: %v", err)
	}
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Read(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("an empty file: %v (want its path named)", err)
	}
}
