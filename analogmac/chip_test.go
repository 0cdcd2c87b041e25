package analogmac

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current code")

func newChip(t testing.TB, chipSeed, noiseSeed uint64, edit func(*ChipConfig)) *testChip {
	t.Helper()
	cfg := DefaultChipConfig()
	if edit != nil {
		edit(&cfg)
	}
	return chipOf(t, chipSeed, noiseSeed, cfg)
}

func noNoise(c *ChipConfig) { c.TrialNoiseStd = 0 }

// An ideal chip: no deviations, no noise, a linear range beyond any output.
func perfect(c *ChipConfig) {
	*c = ChipConfig{GainPerSend: DefaultGain, LinearRange: 1e9, SaturationHeadroom: 1}
}

func TestPerfectChipIsIdeal(t *testing.T) {
	c := newChip(t, 1, 1, perfect)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, s := range testShapes {
		x, w := randomOperands(rng, s)
		got := make([]int8, s.Batch*s.Cols)
		if err := c.MatMul(got, x, w, s, 5, Placement{}); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, referenceMatMul(x, w, s, DefaultGain, 5)); i >= 0 {
			t.Fatalf("%+v: output %d differs from Ideal", s, i)
		}
	}
}

func TestSaturate(t *testing.T) {
	const lin, head = 80.0, 64.0
	prev := math.Inf(-1)
	for v := -2000.0; v <= 2000; v += 0.25 {
		y := saturate(v, lin, 1/head)
		if y < prev {
			t.Fatalf("not monotonic at %g", v)
		}
		prev = y
		if math.Abs(v) <= lin && y != v {
			t.Fatalf("saturate(%g) = %g inside the linear range", v, y)
		}
		if math.Abs(y) >= lin+head {
			t.Fatalf("saturate(%g) = %g beyond the asymptote %g", v, y, lin+head)
		}
		if saturate(-v, lin, 1/head) != -y {
			t.Fatalf("not odd at %g", v)
		}
	}
	// C1 at the knee: the slope just beyond is 1.
	if slope := (saturate(lin+1e-6, lin, 1/head) - lin) / 1e-6; math.Abs(slope-1) > 1e-6 {
		t.Errorf("slope at the knee %g, want 1", slope)
	}
}

// TestChipSaturatesInDataPath puts one column past its linear range: only
// the saturation differs from Ideal.
func TestChipSaturatesInDataPath(t *testing.T) {
	c := newChip(t, 1, 1, func(cfg *ChipConfig) {
		perfect(cfg)
		cfg.LinearRange, cfg.SaturationHeadroom = 80, 64
	})
	s := Shape{Batch: 2, Rows: 128, Cols: 1}
	x := make([]uint8, 256)
	w := make([]int8, 128)
	for r := range 128 {
		x[r], x[128+r], w[r] = 7, 3, 63
	}
	dst := make([]int8, 2)
	if err := c.MatMul(dst, x, w, s, 2, Placement{}); err != nil {
		t.Fatal(err)
	}
	for b, in := range []float64{7, 3} {
		v := DefaultGain * 2 * in * 63 * 128 // 203.2 and 87.1
		d := v - 80
		want := int8(math.Floor(80 + d/(1+d/64)))
		if dst[b] != want {
			t.Errorf("input %g: got %d, want %d (nominal %.1f)", in, dst[b], want, v)
		}
	}
}

// TestPlacementMatters: moving a layer changes the deviations it sees on a
// chip, not on Ideal; and the tile mapping is the one Tiles documents.
func TestPlacementMatters(t *testing.T) {
	c := newChip(t, 1, 1, noNoise)
	id := withKeys(NewIdeal(), 0)
	s := Shape{Batch: 4, Rows: 300, Cols: 300}
	x, w := randomOperands(rand.New(rand.NewPCG(4, 4)), s)
	run := func(d matMuler, p Placement) []int8 {
		dst := make([]int8, s.Batch*s.Cols)
		if err := d.MatMul(dst, x, w, s, 2, p); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	base := Placement{Column: 100}
	for _, p := range []Placement{{Column: 101}, {Column: 256}} {
		if firstDiff(run(c, base), run(c, p)) < 0 {
			t.Errorf("chip: placement %+v gives the same outputs as %+v", p, base)
		}
		if firstDiff(run(id, base), run(id, p)) >= 0 {
			t.Errorf("ideal: placement %+v changes the outputs", p)
		}
	}
	if firstDiff(run(c, base), run(c, base)) >= 0 {
		t.Error("chip without noise: same placement, different outputs")
	}
	// Rows: a 100-row matrix at physical row 0 or 28 meets other synapses.
	s2 := Shape{Batch: 4, Rows: 100, Cols: 50}
	x2, w2 := randomOperands(rand.New(rand.NewPCG(5, 5)), s2)
	a, b := make([]int8, 200), make([]int8, 200)
	c.MatMul(a, x2, w2, s2, 3, Placement{Row: 0})
	c.MatMul(b, x2, w2, s2, 3, Placement{Row: 28})
	if firstDiff(a, b) < 0 {
		t.Error("chip: moving the rows changed nothing")
	}

	// Logical column col of the 300 x 300 matrix at column 100 sits on
	// physical column phys: the same column alone, placed there, agrees.
	full := run(c, base)
	for _, m := range []struct{ col, phys int }{{0, 100}, {10, 110}, {255, 355}, {256, 356}, {299, 399}} {
		one := Shape{Batch: s.Batch, Rows: s.Rows, Cols: 1}
		wc := make([]int8, s.Rows)
		for r := range s.Rows {
			wc[r] = w[r*s.Cols+m.col]
		}
		dst := make([]int8, s.Batch)
		if err := c.MatMul(dst, x, wc, one, 2, Placement{Column: m.phys}); err != nil {
			t.Fatal(err)
		}
		for b := range s.Batch {
			if dst[b] != full[b*s.Cols+m.col] {
				t.Fatalf("column %d: alone at physical column %d gives %d, in the matrix %d", m.col, m.phys, dst[b], full[b*s.Cols+m.col])
			}
		}
	}
}

// TestSignSelectsSynapse: a negative weight uses the inhibitory synapse of
// the pair, whose mismatch differs, so y(-w) != -y(w) in general.
func TestSignSelectsSynapse(t *testing.T) {
	c := newChip(t, 1, 1, func(cfg *ChipConfig) {
		perfect(cfg)
		cfg.SynapseMismatchStd = 0.2
	})
	s := Shape{Batch: 1, Rows: 1, Cols: 256}
	x := []uint8{31}
	w := make([]int8, 256)
	neg := make([]int8, 256)
	for i := range w {
		w[i], neg[i] = 63, -63
	}
	a, b := make([]int8, 256), make([]int8, 256)
	c.MatMul(a, x, w, s, 40, Placement{}) // nominal 140.6 * (1 + m)
	c.MatMul(b, x, neg, s, 40, Placement{})
	asym := 0
	for i := range a {
		exc := math.Floor(DefaultGain * 40 * 31 * 63 * float64(c.synapse[2*i]))
		inh := math.Floor(-DefaultGain * 40 * 31 * 63 * float64(c.synapse[2*i+1]))
		// Within 1 LSB: the device rounds w*(1+m) to float32 first.
		if math.Abs(float64(a[i])-max(-128, min(127, exc))) > 1 || math.Abs(float64(b[i])-max(-128, min(127, inh))) > 1 {
			t.Fatalf("column %d: got %d and %d, want %g and %g", i, a[i], b[i], exc, inh)
		}
		if a[i] != -b[i] {
			asym++
		}
	}
	if asym == 0 {
		t.Error("excitatory and inhibitory synapses behave identically")
	}
}

func TestChipConfigValidate(t *testing.T) {
	if err := DefaultChipConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []func(*ChipConfig){
		func(c *ChipConfig) { c.GainPerSend = 0 },
		func(c *ChipConfig) { c.ColumnGainStd = -0.1 },
		func(c *ChipConfig) { c.ColumnOffsetStd = math.NaN() },
		func(c *ChipConfig) { c.SynapseMismatchStd = math.Inf(1) },
		func(c *ChipConfig) { c.LinearRange = -1 },
		func(c *ChipConfig) { c.SaturationHeadroom = 0 },
		func(c *ChipConfig) { c.TrialNoiseStd = -1 },
	} {
		cfg := DefaultChipConfig()
		edit(&cfg)
		if _, err := NewChip(1, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	// JSON round trip with the documented names.
	b, err := json.Marshal(DefaultChipConfig())
	if err != nil || !strings.Contains(string(b), `"column_offset_std":3`) {
		t.Fatalf("json %s, %v", b, err)
	}
	var back ChipConfig
	if err := json.Unmarshal(b, &back); err != nil || back != DefaultChipConfig() {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

// golden is what testdata/chip_seed1.golden pins down about chip seed 1.
type golden struct {
	ChipSeed   uint64     `json:"chip_seed"`
	NoiseSeed  uint64     `json:"noise_seed"`
	Config     ChipConfig `json:"config"`
	PatternSHA string     `json:"fixed_pattern_sha256"`
	ColGain    []float64  `json:"column_gain_0_7"`
	ColOffset  []float64  `json:"column_offset_0_7"`
	ColLinear  []float64  `json:"linear_range_0_7"`
	SynapseExc []float32  `json:"synapse_exc_row0_col0_7"`
	SynapseInh []float32  `json:"synapse_inh_row127_col504_511"`
	Noiseless  []int8     `json:"outputs_without_noise"`
	Call1      []int8     `json:"outputs_call1"`
	Call2      []int8     `json:"outputs_call2"`
}

func goldenOf(t *testing.T, cfg ChipConfig) golden {
	c := chipOf(t, 1, 1, cfg)
	h := sha256.New()
	for _, arr := range [][ArrayCols]float64{c.colGain, c.colOffset, c.colLinear} {
		for _, v := range arr {
			binary.Write(h, binary.LittleEndian, math.Float64bits(v))
		}
	}
	for _, v := range c.synapse {
		binary.Write(h, binary.LittleEndian, math.Float32bits(v))
	}
	g := golden{
		ChipSeed: 1, NoiseSeed: 1, Config: cfg,
		PatternSHA: hex.EncodeToString(h.Sum(nil)),
		ColGain:    c.colGain[:8], ColOffset: c.colOffset[:8], ColLinear: c.colLinear[:8],
	}
	for i := range 8 {
		g.SynapseExc = append(g.SynapseExc, c.synapse[2*i])
		g.SynapseInh = append(g.SynapseInh, c.synapse[2*((BlockRows-1)*ArrayCols+ArrayCols-8+i)+1])
	}
	// A fixed product over two row blocks and two column tiles.
	s := Shape{Batch: 3, Rows: 150, Cols: 12}
	x := make([]uint8, s.Batch*s.Rows)
	for i := range x {
		x[i] = uint8(i * 7 % 32)
	}
	w := make([]int8, s.Rows*s.Cols)
	for i := range w {
		w[i] = int8(i*13%127 - 63)
	}
	p := Placement{Row: 0, Column: 250}
	quiet := cfg
	quiet.TrialNoiseStd = 0
	qc := chipOf(t, 1, 1, quiet)
	for _, out := range []*[]int8{&g.Noiseless, &g.Call1, &g.Call2} {
		d := c
		if out == &g.Noiseless {
			d = qc
		}
		*out = make([]int8, s.Batch*s.Cols)
		if err := d.MatMul(*out, x, w, s, 3, p); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// TestChipGolden: chip seed 1 stays the same chip. If this fails, users of
// a chip seed would silently get another chip: only regenerate (go test
// ./analogmac -run TestChipGolden -update) for a deliberate change, and say
// so in the commit message.
func TestChipGolden(t *testing.T) {
	path := filepath.Join("testdata", "chip_seed1.golden")
	if *update {
		b, err := json.MarshalIndent(goldenOf(t, DefaultChipConfig()), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	// The stored config first, so that the draw itself is checked even
	// after the defaults have been retuned.
	got := goldenOf(t, want.Config)
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("chip seed 1 changed: the fixed pattern or the data path differs from %s:\n%s", path, gb)
	}
	if want.Config != DefaultChipConfig() {
		t.Errorf("DefaultChipConfig differs from %s: every chip seed now means another chip; if deliberate, run with -update and say so in the commit", path)
	}
}
