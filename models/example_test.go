package models_test

import (
	"context"
	"fmt"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// Build the BrainScaleS-2 MNIST network, compile it to run on a simulated
// chip and classify a batch of two images.
func Example() {
	net, err := models.New(models.BSS2MNISTName, models.Input{Height: 28, Width: 28, Channels: 1}, 10)
	if err != nil {
		panic(err)
	}
	net.Init(1) // seeded weights in hardware units

	chip, err := analogmac.NewChip(42, analogmac.DefaultChipConfig())
	if err != nil {
		panic(err)
	}
	// The device is an argument of the graph: the same network could run
	// on another chip in another graph at the same time.
	gr, err := net.NewGraph(models.GraphOptions{Batch: 2, On: chip})
	if err != nil {
		panic(err)
	}
	defer gr.Close()
	img := make([]uint8, 28*28)
	for y := 4; y < 24; y++ { // a vertical bar
		img[y*28+14] = 255
	}
	layers.ScaleImages(gr.Input()[:784], img)
	layers.ScaleImages(gr.Input()[784:], make([]uint8, 784)) // a blank image
	if err := gr.Run(context.Background(), analogmac.NewNoiseKeys(7)); err != nil {
		panic(err)
	}
	pred := make([]uint8, 2)
	gr.Predict(pred)
	for _, a := range net.Analog() {
		fmt.Printf("%s: %dx%d, %d sends, column %d\n", a.Name, a.In, a.Out, a.Sends, a.Place.Column)
	}
	fmt.Println("outputs per image:", len(gr.Logits())/2, "classes:", len(pred))
	// Output:
	// conv: 100x20, 7 sends, column 0
	// dense1: 500x128, 3 sends, column 256
	// dense2: 128x10, 6 sends, column 32
	// outputs per image: 10 classes: 2
}
