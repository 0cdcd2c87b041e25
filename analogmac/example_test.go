package analogmac_test

import (
	"fmt"

	"github.com/analogloop/analogloop/analogmac"
)

// Two input vectors through a 3 x 2 weight matrix, each sent 4 times:
// per output floor(0.0018 * 4 * x.w).
func ExampleIdeal() {
	x := []uint8{
		31, 31, 31,
		10, 0, 5,
	}
	w := []int8{
		63, -63,
		63, 20,
		63, 0,
	}
	s := analogmac.Shape{Batch: 2, Rows: 3, Cols: 2}
	dst := make([]int8, s.Batch*s.Cols)
	if err := analogmac.NewIdeal().MatMul(dst, x, w, s, 4, analogmac.Placement{}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dst)
	// Output:
	// [42 -10 6 -5]
}

// The same product on chip seed 1, without trial noise so that only the
// fixed pattern shows, at two placements: the columns' own gains and
// offsets move the outputs away from Ideal's [42 -10], differently per
// placement.
func ExampleChip() {
	cfg := analogmac.DefaultChipConfig()
	cfg.TrialNoiseStd = 0
	chip, err := analogmac.NewChip(1, 1, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []uint8{31, 31, 31}
	w := []int8{63, -63, 63, 20, 63, 0}
	s := analogmac.Shape{Batch: 1, Rows: 3, Cols: 2}
	for _, p := range []analogmac.Placement{{Column: 0}, {Column: 300}} {
		dst := make([]int8, 2)
		if err := chip.MatMul(dst, x, w, s, 4, p); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p.Column, dst)
	}
	// Output:
	// 0 [41 -7]
	// 300 [41 -5]
}

// A 300 x 600 matrix needs three row blocks by three column blocks; the
// second column block sits on the other half of the array.
func ExampleTiles() {
	tiles, err := analogmac.Tiles(300, 600, analogmac.Placement{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range tiles[:4] {
		fmt.Printf("rows %d-%d cols %d-%d -> physical row %d column %d\n", t.Row0, t.Row1, t.Col0, t.Col1, t.PhysRow, t.PhysCol)
	}
	fmt.Println(len(tiles), "tiles")
	// Output:
	// rows 0-128 cols 0-256 -> physical row 0 column 0
	// rows 0-128 cols 256-512 -> physical row 0 column 256
	// rows 0-128 cols 512-600 -> physical row 0 column 0
	// rows 128-256 cols 0-256 -> physical row 0 column 0
	// 9 tiles
}

func ExampleNewDevice() {
	d, err := analogmac.NewDevice("chip", 1, 1)
	fmt.Println(analogmac.Describe(d).Kind, *analogmac.Describe(d).ChipSeed, err)
	_, err = analogmac.NewDevice("fpga", 1, 1)
	fmt.Println(err)
	// Output:
	// chip 1 <nil>
	// analogmac: unknown device kind "fpga": want one of ideal, mock, chip
}

// Characterising Ideal: the gain is recovered and there is no noise.
func ExampleCharacterize() {
	ch, err := analogmac.Characterize(analogmac.NewIdeal(), analogmac.CharacterizationRepeats, analogmac.CharacterizationSends)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("gain %.4f, trial noise %g LSB, %d linear points\n", ch.Params.Gain, ch.Params.TrialNoise, ch.Params.LinearPoints)
	// Output:
	// gain 0.0018, trial noise 0 LSB, 231 linear points
}
