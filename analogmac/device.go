package analogmac

import (
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

// Device computes analog vector-matrix products.
//
// MatMul writes to dst (Batch x Cols, row-major) the device's output for
// the inputs x (Batch x Rows, row-major, each 0..InputMax) through the weights
// w (Rows x Cols, row-major, each -WeightMax..WeightMax), with each input
// vector sent sends times in one integration and the matrix placed at p.
// Values out of range, sends < 1 and slices that do not match s are errors:
// a device never clips its inputs silently.
//
// A device with noise consumes its noise stream in call order, so calls must
// not be made concurrently if results are to be reproducible; a device may
// use several goroutines inside one call without changing its results.
type Device interface {
	MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error
	// Gain is the nominal output, in LSB, per unit of input x weight and per
	// send: what the host assumes when it computes gradients.
	Gain() float64
}

// NoiseSeeder is a Device whose trial-to-trial noise comes from a seeded
// stream; SeedNoise restarts that stream.
type NoiseSeeder interface {
	Device
	SeedNoise(seed uint64)
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
		return nil, fmt.Errorf("analogmac: matrix %dx%d: need at least one row and one column", rows, cols)
	}
	if p.Row < 0 || p.Column < 0 || p.Column >= ArrayCols {
		return nil, fmt.Errorf("analogmac: placement row %d column %d: want row >= 0 and column in 0..%d", p.Row, p.Column, ArrayCols-1)
	}
	tiles := make([]Tile, 0, ((rows+BlockRows-1)/BlockRows)*((cols+BlockCols-1)/BlockCols))
	for r0 := 0; r0 < rows; r0 += BlockRows {
		r1 := min(r0+BlockRows, rows)
		if p.Row+(r1-r0) > BlockRows {
			return nil, fmt.Errorf("analogmac: placement row %d: a block of %d rows does not fit in the array's %d rows", p.Row, r1-r0, BlockRows)
		}
		for j, c0 := 0, 0; c0 < cols; j, c0 = j+1, c0+BlockCols {
			c1 := min(c0+BlockCols, cols)
			pc := (p.Column + j*BlockCols) % ArrayCols
			if pc+(c1-c0) > ArrayCols {
				return nil, fmt.Errorf("analogmac: placement column %d: block of %d columns at physical column %d runs past the array's %d columns", p.Column, c1-c0, pc, ArrayCols)
			}
			tiles = append(tiles, Tile{Row0: r0, Row1: r1, Col0: c0, Col1: c1, PhysRow: p.Row, PhysCol: pc})
		}
	}
	return tiles, nil
}

// checkGain refuses a gain no device can have: silent garbage otherwise.
func checkGain(g float64) error {
	if !(g > 0) || math.IsInf(g, 0) {
		return fmt.Errorf("analogmac: gain per send %g: want a finite value > 0", g)
	}
	return nil
}

// Check validates the arguments of a MatMul call; devices call it first.
func Check(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error {
	if s.Batch < 1 || s.Rows < 1 || s.Cols < 1 {
		return fmt.Errorf("analogmac: shape batch %d rows %d cols %d: all must be at least 1", s.Batch, s.Rows, s.Cols)
	}
	if sends < 1 {
		return fmt.Errorf("analogmac: sends %d: want at least 1", sends)
	}
	if len(x) != s.Batch*s.Rows {
		return fmt.Errorf("analogmac: inputs hold %d values, shape %dx%d needs %d", len(x), s.Batch, s.Rows, s.Batch*s.Rows)
	}
	if len(w) != s.Rows*s.Cols {
		return fmt.Errorf("analogmac: weights hold %d values, shape %dx%d needs %d", len(w), s.Rows, s.Cols, s.Rows*s.Cols)
	}
	if len(dst) != s.Batch*s.Cols {
		return fmt.Errorf("analogmac: output holds %d values, shape %dx%d needs %d", len(dst), s.Batch, s.Cols, s.Batch*s.Cols)
	}
	for i, v := range x {
		if v > InputMax {
			return fmt.Errorf("analogmac: input [%d][%d] = %d: want 0..%d", i/s.Rows, i%s.Rows, v, InputMax)
		}
	}
	for i, v := range w {
		if v > WeightMax || v < -WeightMax {
			return fmt.Errorf("analogmac: weight [%d][%d] = %d: want -%d..%d", i/s.Cols, i%s.Cols, v, WeightMax, WeightMax)
		}
	}
	_, err := Tiles(s.Rows, s.Cols, p)
	return err
}
