//go:build ignore

// Ceiling estimates the best accuracy any classifier can reach on the
// Yin-Yang dataset when it sees only 5-bit inputs: the points of each of
// the 32 x 32 input cells get the cell's most frequent label.
//
//	go run examples/yinyang/ceiling.go
package main

import (
	"fmt"

	"github.com/analogloop/analogloop/datasets/yinyang"
)

func main() {
	const n = 2_000_000
	xy, labels := yinyang.Points(n, 12345) // a seed no split uses
	var count [32][32][yinyang.Classes]int
	for i, p := range xy {
		count[yinyang.Quantize(p[0])>>3][yinyang.Quantize(p[1])>>3][labels[i]]++
	}
	best := 0
	for a := range count {
		for b := range count[a] {
			best += max(count[a][b][0], count[a][b][1], count[a][b][2])
		}
	}
	fmt.Printf("5-bit ceiling over %d points: %.2f %%\n", n, 100*float64(best)/n)
}
