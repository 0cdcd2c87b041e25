package yinyang_test

import (
	"fmt"

	"github.com/analogloop/analogloop/datasets/yinyang"
)

func Example() {
	d, err := yinyang.Load(yinyang.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Train.N, "training and", d.Test.N, "test samples of", d.Train.Values(), "values,", d.Train.Classes, "classes")

	// A sample as the network reads it: 5-bit inputs (x, y, 1-x, 1-y).
	v := d.Train.Sample(0)
	in := []uint8{v[0] >> 3, v[1] >> 3, v[2] >> 3, v[3] >> 3}
	fmt.Println("pairs sum to", in[0]+in[2], "and", in[1]+in[3])

	fmt.Println(yinyang.ClassNames[yinyang.Class(0.25, 0.5)], yinyang.ClassNames[yinyang.Class(0.5, 0.9)], yinyang.ClassNames[yinyang.Class(0.5, 0.1)])
	// Output:
	// 5000 training and 1000 test samples of 4 values, 3 classes
	// pairs sum to 31 and 31
	// dot yang yin
}
