package analogmac_test

import (
	"context"
	"fmt"

	"github.com/analogloop/analogloop/analogmac"
)

// Two input vectors through a 3 x 2 weight matrix, each sent 4 times:
// per output floor(0.0018 * 4 * x.w). The weights are programmed once; any
// number of batches can then run through them.
func ExampleIdeal() {
	ctx := context.Background()
	prog, err := analogmac.NewIdeal().Program(ctx, analogmac.Matrix{
		Rows: 3, Cols: 2, Sends: 4,
		Weights: []int8{
			63, -63,
			63, 20,
			63, 0,
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer prog.Close()
	x := []uint8{
		31, 31, 31,
		10, 0, 5,
	}
	dst := make([]int8, 2*2)
	if err := prog.Run(ctx, dst, x, 2, 0); err != nil {
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
	chip, err := analogmac.NewChip(1, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []uint8{31, 31, 31}
	w := []int8{63, -63, 63, 20, 63, 0}
	s := analogmac.Shape{Batch: 1, Rows: 3, Cols: 2}
	for _, p := range []analogmac.Placement{{Column: 0}, {Column: 300}} {
		dst := make([]int8, 2)
		if err := analogmac.MatMul(context.Background(), chip, dst, x, w, s, 4, p, 0); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p.Column, dst)
	}
	// Output:
	// 0 [41 -7]
	// 300 [41 -5]
}

// A noise key fixes a run's trial noise: the same key gives the same
// outputs, another key fresh noise. NoiseKeys hands out a reproducible
// sequence of keys from one seed.
func ExampleNoiseKeys() {
	ctx := context.Background()
	mock := analogmac.NewMock()
	prog, _ := mock.Program(ctx, analogmac.Matrix{Rows: 1, Cols: 4, Sends: 10, Weights: []int8{20, 20, 20, 20}})
	defer prog.Close()
	x := []uint8{31}
	run := func(key uint64) []int8 {
		dst := make([]int8, 4)
		prog.Run(ctx, dst, x, 1, key)
		return dst
	}
	keys := analogmac.NewNoiseKeys(7)
	first := run(keys.Next())
	again := run(analogmac.NewNoiseKeys(7).Next())
	fmt.Println("same key, same outputs:", fmt.Sprint(first) == fmt.Sprint(again))
	fmt.Println("next key, fresh noise:", fmt.Sprint(first) != fmt.Sprint(run(keys.Next())))
	// Output:
	// same key, same outputs: true
	// next key, fresh noise: true
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

// A device's configuration is data: a Spec, from a named preset or a file,
// builds the device, and the device describes itself as the same Spec.
func ExampleNew() {
	spec, _ := analogmac.Preset("chip", 1)
	d, err := analogmac.New(spec)
	fmt.Println(analogmac.Describe(d), err)
	_, err = analogmac.NewDevice("fpga", 1)
	fmt.Println(err)
	// Output:
	// chip 1 <nil>
	// analogmac: kind: unknown device kind "fpga": want one of ideal, mock, chip
}

// A wrapper composes with any device: Counter counts what passes through.
func ExampleCounter() {
	ctx := context.Background()
	c := analogmac.NewCounter(analogmac.NewIdeal())
	dst := make([]int8, 2)
	analogmac.MatMul(ctx, c, dst, []uint8{0, 5, 0, 9}, []int8{1, 2}, analogmac.Shape{Batch: 2, Rows: 2, Cols: 1}, 3, analogmac.Placement{}, 0)
	fmt.Printf("%+v\n", c.Counts())
	// Output:
	// {Programs:1 Updates:0 Runs:1 Vectors:2 Events:6 MACs:4}
}

// Characterising Ideal: the gain is recovered and there is no noise.
func ExampleCharacterize() {
	ch, err := analogmac.Characterize(context.Background(), analogmac.NewIdeal(), analogmac.CharacterizeOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("gain %.4f, trial noise %g LSB, %d linear points\n", ch.Params.Gain, ch.Params.TrialNoise, ch.Params.LinearPoints)
	// Output:
	// gain 0.0018, trial noise 0 LSB, 231 linear points
}
