package analogmac

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestConvertReLU: the vector path, where the processor has one, against
// the definition, for every shift, lengths around the vector width and
// every int8 value, without writing past the end.
func TestConvertReLU(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for shift := 0; shift <= MaxShift; shift++ {
		for _, n := range []int{1, 2, 63, 64, 65, 127, 128, 129, 256, 1000} {
			y := make([]int8, n)
			for i := range y {
				y[i] = int8(r.Uint32())
			}
			if n == 256 {
				for i := range y {
					y[i] = int8(i - 128)
				}
			}
			dst := make([]uint8, n+64)
			for i := range dst {
				dst[i] = 0xaa
			}
			ConvertReLU(dst[:n], y, shift)
			for i, v := range y {
				want := uint8(0)
				if v > 0 {
					want = uint8(min(InputMax, int(v)/(1<<shift)))
				}
				if dst[i] != want {
					t.Fatalf("shift %d, n %d: ConvertReLU(%d) = %d, want %d", shift, n, v, dst[i], want)
				}
			}
			for i := n; i < len(dst); i++ {
				if dst[i] != 0xaa {
					t.Fatalf("shift %d, n %d: wrote dst[%d] past the end", shift, n, i)
				}
			}
		}
	}
}

func TestCheckChain(t *testing.T) {
	ctx := context.Background()
	d := NewIdeal()
	prog := func(rows, cols int) Program {
		p, err := d.Program(ctx, Matrix{Rows: rows, Cols: cols, Weights: make([]int8, rows*cols), Sends: 1})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	conv, dense, out := prog(100, 20), prog(500, 128), prog(128, 10)
	good := func() ([]uint8, []Link) {
		return make([]uint8, 2500*100), []Link{
			{Program: conv, Batch: 2500, Out: make([]int8, 2500*20)},
			{Program: dense, Batch: 100, Out: make([]int8, 100*128), Shift: 1},
			{Program: out, Batch: 100, Out: make([]int8, 100*10), Shift: 7},
		}
	}
	x, links := good()
	if err := CheckChain(x, links); err != nil {
		t.Fatalf("a good chain: %v", err)
	}
	for _, c := range []struct {
		field string
		spoil func(x *[]uint8, l []Link)
	}{
		{"links", func(_ *[]uint8, l []Link) { clear(l) }},
		{"inputs", func(x *[]uint8, _ []Link) { *x = (*x)[1:] }},
		{"links[1].program", func(_ *[]uint8, l []Link) { l[1].Program = nil }},
		{"links[2].program", func(_ *[]uint8, l []Link) { l[2].Program = l[0].Program }},
		{"links[0].batch", func(_ *[]uint8, l []Link) { l[0].Batch = 0 }},
		{"links[1].batch", func(_ *[]uint8, l []Link) { l[1].Batch, l[1].Out = 99, make([]int8, 99*128) }},
		{"links[2].out", func(_ *[]uint8, l []Link) { l[2].Out = l[2].Out[:999] }},
		{"links[1].shift", func(_ *[]uint8, l []Link) { l[1].Shift = MaxShift + 1 }},
		{"links[2].shift", func(_ *[]uint8, l []Link) { l[2].Shift = -1 }},
	} {
		x, links := good()
		c.spoil(&x, links)
		if c.field == "links" {
			links = nil
		}
		err := CheckChain(x, links)
		var ae *ArgError
		if !errors.As(err, &ae) || ae.Field != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s spoilt: %v, want an ArgError naming it", c.field, err)
		}
	}
}
