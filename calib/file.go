package calib

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chiptime"
	"github.com/analogloop/analogloop/internal/atomicfile"
)

// FormatName and Version identify a calibration file; Read accepts only
// this version. Version changes whenever a field's meaning changes.
const (
	FormatName = "analogloop-calibration"
	Version    = 1
)

// MaxFileBytes bounds the size of a calibration file Read accepts: a file
// with synapse factors is about 0.6 MB.
const MaxFileBytes = 8 << 20

// SynapseScale is the unit of the stored synapse factors: a stored value
// v means the factor 1 + v*SynapseScale (permille).
const SynapseScale = 1e-3

// Bounds of stored values: far outside any chip, they only keep a damaged
// or hostile file from producing a device with nonsense parameters.
const (
	MaxGain       = 4.0   // relative gain, (0, MaxGain]
	MaxOffset     = 128.0 // |offset| in LSB
	MaxNoise      = 64.0  // LSB
	MaxRMS        = 256.0 // LSB
	MinSynapseVal = -1000 // factor 0
	MaxSynapseVal = 3000  // factor 4
)

// Calibration is what characterising a device gives: per physical column
// the fitted model (see model.go), optionally a factor per synapse, how it
// was measured and what the measurement cost. It is written as a JSON
// file (docs/calibration.md) and read back with Read, which validates
// everything.
type Calibration struct {
	Format  string `json:"format"`  // FormatName
	Version int    `json:"version"` // Version
	// Device describes the device that was characterised.
	Device analogmac.Spec `json:"device"`
	// GainPerSend is the nominal gain the gains are relative to: the
	// device's Gain() at characterisation.
	GainPerSend float64  `json:"gain_per_send"`
	Protocol    Protocol `json:"protocol"`
	Cost        Cost     `json:"cost"`
	// Columns holds analogmac.ArrayCols entries, by physical column.
	Columns []Column `json:"columns"`
	// Synapses, when present, holds a factor per physical synapse.
	Synapses *Synapses `json:"synapses,omitempty"`
	Summary  Summary   `json:"summary"`
}

// Column is one physical column's fitted model.
type Column struct {
	// Gain is the column's gain relative to GainPerSend, as the average
	// synapse of the column sees it.
	Gain float64 `json:"gain"`
	// Offset is added to every block output, in LSB.
	Offset float64 `json:"offset"`
	// Noise is the std of the trial-to-trial noise before the floor, LSB.
	Noise float64 `json:"noise"`
	// Pos and Neg are the saturation of the positive and negative branch.
	Pos Branch `json:"pos"`
	Neg Branch `json:"neg"`
	// RMS is the rms deviation, in LSB, of the measured mean outputs
	// from the fitted curve: how well the model fits this column.
	RMS float64 `json:"rms"`
}

// Synapses holds a factor per physical synapse relative to its column's
// gain: the weight w of row r in column c acts as w*(1 + v*SynapseScale)
// with v = Excitatory[r][c] for w > 0 and Inhibitory[r][c] for w < 0.
type Synapses struct {
	Rows       int       `json:"rows"` // analogmac.BlockRows
	Cols       int       `json:"cols"` // analogmac.ArrayCols
	Excitatory [][]int16 `json:"excitatory"`
	Inhibitory [][]int16 `json:"inhibitory"`
}

// Factor returns the factor of the synapse of row r, column c that a
// weight of the given sign uses (1 for w == 0).
func (s *Synapses) Factor(r, c int, w int8) float64 {
	switch {
	case w > 0:
		return 1 + float64(s.Excitatory[r][c])*SynapseScale
	case w < 0:
		return 1 + float64(s.Inhibitory[r][c])*SynapseScale
	}
	return 1
}

// Cost is what characterising cost on the chip.
type Cost struct {
	Counts chiptime.Counts `json:"counts"`
	// Seconds is the chip time Model estimates for Counts.
	Seconds float64        `json:"seconds"`
	Model   chiptime.Model `json:"model"`
}

// Summary gives the spreads over columns, for a quick look and for the
// plots.
type Summary struct {
	GainMean    float64 `json:"gain_mean"`
	GainStd     float64 `json:"gain_std"`
	OffsetMean  float64 `json:"offset_mean"`
	OffsetStd   float64 `json:"offset_std"`
	NoiseMean   float64 `json:"noise_mean"`
	LinearMean  float64 `json:"linear_mean"` // over both branches, saturating columns only
	LinearStd   float64 `json:"linear_std"`
	Saturating  int     `json:"saturating_branches"` // branches with Linear < NoSaturation
	RMSMax      float64 `json:"rms_max"`
	SynapseStd  float64 `json:"synapse_std,omitempty"` // std of the synapse factors
	SynapseMean float64 `json:"synapse_mean,omitempty"`
}

// Validate checks everything a calibration must satisfy to drive a
// device; errors name the field.
func (c *Calibration) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	if c.Format != FormatName {
		return bad("format", "%q: want %q", c.Format, FormatName)
	}
	if c.Version != Version {
		return bad("version", "%d: this build reads only version %d", c.Version, Version)
	}
	if c.Device.Kind == "" {
		return bad("device.kind", "missing: which device was characterised")
	}
	if c.Device.Chip != nil {
		if err := c.Device.Chip.Validate(); err != nil {
			return bad("device.chip", "%v", err)
		}
	}
	if !finiteIn(c.GainPerSend, 1e-9, 1) {
		return bad("gain_per_send", "%g: want a finite value in (0, 1]", c.GainPerSend)
	}
	if err := c.Protocol.Validate(); err != nil {
		return err
	}
	if len(c.Columns) != analogmac.ArrayCols {
		return bad("columns", "%d entries: want one per physical column, %d", len(c.Columns), analogmac.ArrayCols)
	}
	for i, col := range c.Columns {
		f := func(name string) string { return fmt.Sprintf("columns[%d].%s", i, name) }
		switch {
		case !finiteIn(col.Gain, 1e-9, MaxGain):
			return bad(f("gain"), "%g: want a finite value in (0, %g]", col.Gain, MaxGain)
		case !finiteIn(col.Offset, -MaxOffset, MaxOffset):
			return bad(f("offset"), "%g: want a finite value in [-%g, %g]", col.Offset, MaxOffset, MaxOffset)
		case !finiteIn(col.Noise, 0, MaxNoise):
			return bad(f("noise"), "%g: want a finite value in [0, %g]", col.Noise, MaxNoise)
		case !finiteIn(col.RMS, 0, MaxRMS):
			return bad(f("rms"), "%g: want a finite value in [0, %g]", col.RMS, MaxRMS)
		}
		for _, b := range []struct {
			name string
			br   Branch
		}{{"pos", col.Pos}, {"neg", col.Neg}} {
			if !finiteIn(b.br.Linear, MinLinear, NoSaturation) {
				return bad(f(b.name+".linear"), "%g: want a finite value in [%g, %g]", b.br.Linear, MinLinear, NoSaturation)
			}
			if !finiteIn(b.br.Headroom, MinHeadroom, MaxHeadroom) {
				return bad(f(b.name+".headroom"), "%g: want a finite value in [%g, %g]", b.br.Headroom, MinHeadroom, MaxHeadroom)
			}
		}
	}
	if s := c.Synapses; s != nil {
		if s.Rows != analogmac.BlockRows || s.Cols != analogmac.ArrayCols {
			return bad("synapses", "%d x %d: want %d rows x %d columns", s.Rows, s.Cols, analogmac.BlockRows, analogmac.ArrayCols)
		}
		for _, t := range []struct {
			name string
			v    [][]int16
		}{{"excitatory", s.Excitatory}, {"inhibitory", s.Inhibitory}} {
			if len(t.v) != s.Rows {
				return bad("synapses."+t.name, "%d rows: want %d", len(t.v), s.Rows)
			}
			for r, row := range t.v {
				if len(row) != s.Cols {
					return bad(fmt.Sprintf("synapses.%s[%d]", t.name, r), "%d values: want %d", len(row), s.Cols)
				}
				for col, v := range row {
					if v < MinSynapseVal || v > MaxSynapseVal {
						return bad(fmt.Sprintf("synapses.%s[%d][%d]", t.name, r, col), "%d: want %d..%d (permille deviation)", v, MinSynapseVal, MaxSynapseVal)
					}
				}
			}
		}
	}
	return nil
}

func finiteIn(v, lo, hi float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= lo && v <= hi
}

// ErrInvalid is what every error of Parse and Read about the contents of
// a file is.
var ErrInvalid = errors.New("invalid calibration")

// Parse decodes and validates a calibration from its JSON bytes. Unknown
// fields, trailing data and values out of range are refused.
func Parse(data []byte) (*Calibration, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("calib: %w: %d bytes: at most %d", ErrInvalid, len(data), MaxFileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Calibration
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("calib: %w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("calib: %w: data after the JSON object", ErrInvalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("calib: %w: data after the JSON object", ErrInvalid)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("calib: %w: %v", ErrInvalid, err)
	}
	return &c, nil
}

// Read reads and validates the calibration file at path. It reads only
// regular files of at most MaxFileBytes, checked before reading.
func Read(path string) (*Calibration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("calib: %s: %w: not a regular file (%s)", path, ErrInvalid, st.Mode().Type())
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("calib: %s: %w: %d bytes: a calibration file has at most %d", path, ErrInvalid, st.Size(), MaxFileBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("calib: %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Marshal encodes c as the file's JSON, after validating it.
func (c *Calibration) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("calib: %w: %v", ErrInvalid, err)
	}
	var buf bytes.Buffer
	buf.WriteString("{\n")
	// One field per line, the long arrays compact: readable and diffable
	// without a megabyte of indentation.
	fields := []struct {
		name string
		v    any
	}{
		{"format", c.Format}, {"version", c.Version}, {"device", c.Device},
		{"gain_per_send", c.GainPerSend}, {"protocol", c.Protocol}, {"cost", c.Cost},
		{"summary", c.Summary},
	}
	for _, f := range fields {
		b, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&buf, "  %q: %s,\n", f.name, b)
	}
	buf.WriteString("  \"columns\": [\n")
	for i, col := range c.Columns {
		b, err := json.Marshal(col)
		if err != nil {
			return nil, err
		}
		sep := ","
		if i == len(c.Columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&buf, "    %s%s\n", b, sep)
	}
	buf.WriteString("  ]")
	if s := c.Synapses; s != nil {
		fmt.Fprintf(&buf, ",\n  \"synapses\": {\"rows\": %d, \"cols\": %d,\n", s.Rows, s.Cols)
		for k, t := range []struct {
			name string
			v    [][]int16
		}{{"excitatory", s.Excitatory}, {"inhibitory", s.Inhibitory}} {
			fmt.Fprintf(&buf, "    %q: [\n", t.name)
			for r, row := range t.v {
				b, err := json.Marshal(row)
				if err != nil {
					return nil, err
				}
				sep := ","
				if r == len(t.v)-1 {
					sep = ""
				}
				fmt.Fprintf(&buf, "      %s%s\n", b, sep)
			}
			if k == 0 {
				buf.WriteString("    ],\n")
			} else {
				buf.WriteString("    ]\n")
			}
		}
		buf.WriteString("  }")
	}
	buf.WriteString("\n}\n")
	return buf.Bytes(), nil
}

// Digest names the calibration by content: "sha256:" and the SHA-256 of
// its canonical file (Marshal), so a device built from it can say which
// calibration it uses, and a run resumed with another file is refused.
func (c *Calibration) Digest() string {
	b, err := c.Marshal()
	if err != nil {
		return "invalid"
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Write writes c to path atomically (see Marshal).
func (c *Calibration) Write(path string) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}
