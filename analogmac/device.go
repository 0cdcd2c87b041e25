package analogmac

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
)

// Ranges of the chip's data path (background.md §1).
const (
	InputMax  = 31   // inputs are 5-bit unsigned: 0..InputMax
	WeightMax = 63   // weights are 6 bit + sign: -WeightMax..WeightMax
	OutputMin = -128 // the ADC output is int8 after baseline subtraction
	OutputMax = 127

	BlockRows = 128 // signed inputs per synapse-array half (2 physical rows each)
	BlockCols = 256 // output columns per half
	ArrayCols = 512 // columns per run: two halves side by side
)

// Limits a device may rely on: far beyond any layer of this project, they
// keep a request from outside (a manifest, a network client) from making a
// device allocate without bound.
const (
	MaxRows  = 1 << 14 // inputs of one matrix (128 row blocks)
	MaxCols  = 1 << 14 // outputs of one matrix
	MaxSends = 1024
	MaxBatch = 1 << 16 // input vectors of one Run
)

// Shape is the size of one matrix product: Batch input vectors of length
// Rows through a Rows x Cols weight matrix.
type Shape struct {
	Batch, Rows, Cols int
}

// Placement says where a weight matrix sits on the synapse array. Its tiles
// (see Tiles) start at physical row Row and at physical columns Column,
// Column+BlockCols, ... taken modulo ArrayCols. On a chip the placement
// decides which fixed-pattern deviations a layer sees.
type Placement struct {
	Row    int `json:"row"`
	Column int `json:"column"`
}

// Matrix is a weight matrix as it is programmed onto the array: Rows x Cols
// signed 6-bit weights, row-major (Weights[r*Cols+c] multiplies input r into
// output c), each input vector sent Sends times per run, the tiles placed at
// Placement.
type Matrix struct {
	Rows, Cols int
	Weights    []int8
	Sends      int
	Placement  Placement
}

// Device is an analog vector-matrix multiplier: a simulated chip, a model
// of one, or a real chip behind some transport. See the package
// documentation for the contract in full; in short:
//
//   - Program writes a weight matrix onto the device once; the Program it
//     returns then runs any number of input batches through those weights.
//     When the weights change, program them again.
//   - Every call that may wait takes a context and returns ctx.Err() (or an
//     error wrapping it) when the context ends first.
//   - Errors are values: ErrInvalid for arguments out of range (never
//     worth retrying), ErrUnavailable and ErrBusy for a device that cannot
//     serve now, ErrClosed after Close.
//   - A Device's methods may be called from several goroutines at once.
type Device interface {
	// Program validates m (Check) and writes it onto the device. The
	// device copies what it needs: the caller may reuse m.Weights as soon
	// as Program returns.
	Program(ctx context.Context, m Matrix) (Program, error)
	// Gain is the nominal output, in LSB, per unit of input x weight and per
	// send: what the host assumes when it computes gradients.
	Gain() float64
	// Close releases the device and everything programmed on it. Later
	// calls fail with ErrClosed. Close is idempotent.
	Close() error
}

// Program is a weight matrix programmed onto a device.
type Program interface {
	// Run writes to dst (batch x Cols, row-major) the device's output for
	// the inputs x (batch x Rows, row-major, each 0..InputMax). noise is
	// the key of this run's trial-to-trial noise: on a simulated device
	// the output is a pure function of the programmed matrix, x and noise,
	// so the same key reproduces the same output in any process and at any
	// time, and different keys draw independent noise. A physical chip
	// ignores it. Run may be called from several goroutines; a device may
	// serialise them.
	Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error
	// Matrix returns the shape, sends and placement of the programmed
	// matrix; its Weights are nil.
	Matrix() Matrix
	// Close frees the program on the device; later Runs fail with
	// ErrClosed. Close is idempotent.
	Close() error
}

// Updater is a Program that can take new weights of the same shape, sends
// and placement in place: cheaper than a new Program when only the values
// change, as in training (a remote device may send only what changed).
// Callers use it when a Program implements it, and program anew otherwise.
type Updater interface {
	// Update validates w like Program does and replaces the programmed
	// weights; runs before and after see the old and the new weights.
	Update(ctx context.Context, w []int8) error
}

// Describer is a Device that can describe its configuration as data (a
// Spec). Wrappers forward it, so a remote chip describes the chip it
// reaches.
type Describer interface {
	Spec() Spec
}

// Describe returns d's configuration if it is a Describer, otherwise a Spec
// of kind "other" with d's gain.
func Describe(d Device) Spec {
	if ds, ok := d.(Describer); ok {
		return ds.Spec()
	}
	return Spec{Kind: "other", GainPerSend: d.Gain()}
}

// MatMul programs w, runs x through it once with the noise key noise and
// frees the program: a one-off product. For repeated inputs through the same
// weights, keep the Program.
func MatMul(ctx context.Context, d Device, dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement, noise uint64) error {
	prog, err := d.Program(ctx, Matrix{Rows: s.Rows, Cols: s.Cols, Weights: w, Sends: sends, Placement: p})
	if err != nil {
		return err
	}
	defer prog.Close()
	if s.Batch < 1 {
		return argErr("batch", "%d: want at least 1", s.Batch)
	}
	return prog.Run(ctx, dst, x, s.Batch, noise)
}

// Tile is one block of a weight matrix as it is run on the array: logical
// rows [Row0, Row1) and columns [Col0, Col1) of the matrix, placed at
// physical row PhysRow and physical column PhysCol.
type Tile struct {
	Row0    int `json:"row0"`
	Row1    int `json:"row1"`
	Col0    int `json:"col0"`
	Col1    int `json:"col1"`
	PhysRow int `json:"phys_row"`
	PhysCol int `json:"phys_col"`
}

// Tiles splits a rows x cols matrix into blocks of at most BlockRows x
// BlockCols, in row-block-major order, and places them according to p.
func Tiles(rows, cols int, p Placement) ([]Tile, error) {
	if rows < 1 || cols < 1 {
		return nil, argErr("shape", "matrix %dx%d: need at least one row and one column", rows, cols)
	}
	if rows > MaxRows || cols > MaxCols {
		return nil, argErr("shape", "matrix %dx%d: at most %dx%d", rows, cols, MaxRows, MaxCols)
	}
	if p.Row < 0 || p.Column < 0 || p.Column >= ArrayCols {
		return nil, argErr("placement", "row %d column %d: want row >= 0 and column in 0..%d", p.Row, p.Column, ArrayCols-1)
	}
	tiles := make([]Tile, 0, ((rows+BlockRows-1)/BlockRows)*((cols+BlockCols-1)/BlockCols))
	for r0 := 0; r0 < rows; r0 += BlockRows {
		r1 := min(r0+BlockRows, rows)
		if p.Row+(r1-r0) > BlockRows {
			return nil, argErr("placement.row", "%d: a block of %d rows does not fit in the array's %d rows", p.Row, r1-r0, BlockRows)
		}
		for j, c0 := 0, 0; c0 < cols; j, c0 = j+1, c0+BlockCols {
			c1 := min(c0+BlockCols, cols)
			pc := (p.Column + j*BlockCols) % ArrayCols
			if pc+(c1-c0) > ArrayCols {
				return nil, argErr("placement.column", "%d: block of %d columns at physical column %d runs past the array's %d columns", p.Column, c1-c0, pc, ArrayCols)
			}
			tiles = append(tiles, Tile{Row0: r0, Row1: r1, Col0: c0, Col1: c1, PhysRow: p.Row, PhysCol: pc})
		}
	}
	return tiles, nil
}

// checkGain refuses a gain no device can have: silent garbage otherwise.
func checkGain(g float64) error {
	if !(g > 0) || math.IsInf(g, 0) {
		return argErr("gain_per_send", "%g: want a finite value > 0", g)
	}
	return nil
}

// Check validates a matrix to be programmed: shape, sends, placement and
// every weight. Devices call it in Program; a server calls it on what it
// receives.
func Check(m Matrix) error {
	if m.Sends < 1 || m.Sends > MaxSends {
		return argErr("sends", "%d: want 1..%d", m.Sends, MaxSends)
	}
	if _, err := Tiles(m.Rows, m.Cols, m.Placement); err != nil {
		return err
	}
	if len(m.Weights) != m.Rows*m.Cols {
		return argErr("weights", "hold %d values, shape %dx%d needs %d", len(m.Weights), m.Rows, m.Cols, m.Rows*m.Cols)
	}
	for i, v := range m.Weights {
		if v > WeightMax || v < -WeightMax {
			return argErr(fmt.Sprintf("weights[%d][%d]", i/m.Cols, i%m.Cols), "%d: want -%d..%d", v, WeightMax, WeightMax)
		}
	}
	return nil
}

// CheckRun validates the arguments of a Run of a rows x cols program.
func CheckRun(dst []int8, x []uint8, batch, rows, cols int) error {
	if batch < 1 || batch > MaxBatch {
		return argErr("batch", "%d: want 1..%d", batch, MaxBatch)
	}
	if len(x) != batch*rows {
		return argErr("inputs", "hold %d values, batch %d x %d rows needs %d", len(x), batch, rows, batch*rows)
	}
	if len(dst) != batch*cols {
		return argErr("outputs", "hold %d values, batch %d x %d columns needs %d", len(dst), batch, cols, batch*cols)
	}
	if i := firstAboveInputMax(x); i >= 0 {
		return argErr(fmt.Sprintf("inputs[%d][%d]", i/rows, i%rows), "%d: want 0..%d", x[i], InputMax)
	}
	return nil
}

// firstAboveInputMax returns the index of the first input above InputMax,
// or -1. Every run checks all its inputs, so eight are tested at once: an
// input fits in 5 bits when its 3 high bits are clear.
func firstAboveInputMax(x []uint8) int {
	const high = ^uint64(0) / 0xff * (0xff &^ InputMax) // 0xe0 in every byte
	// 64 at a time with AVX-512, else four words at a time, their bits
	// gathered without a branch; the exact position is looked for only
	// where a block has a bad input.
	i := checkedPrefix(x)
	for ; i+32 <= len(x); i += 32 {
		w := binary.LittleEndian.Uint64(x[i:]) | binary.LittleEndian.Uint64(x[i+8:]) |
			binary.LittleEndian.Uint64(x[i+16:]) | binary.LittleEndian.Uint64(x[i+24:])
		if w&high != 0 {
			break
		}
	}
	for ; i < len(x); i++ {
		if x[i] > InputMax {
			return i
		}
	}
	return -1
}
