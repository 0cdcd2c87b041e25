package models

import (
	"context"
	"fmt"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/layers"
)

// Fill loads samples idx into the graph's input (scaled to 5-bit inputs)
// and their labels into labels; a batch with fewer indices than the graph's
// batch is padded with the first of them. It returns how many samples are
// real.
func (gr *Graph) Fill(set *datasets.Set, idx []int, labels []uint8) int {
	in := gr.Input()
	per := gr.Net.Inputs()
	for i := range gr.Batch {
		j := idx[0]
		if i < len(idx) {
			j = idx[i]
		}
		layers.ScaleImages(in[i*per:(i+1)*per], set.Sample(j))
		labels[i] = set.Labels[j]
	}
	return min(len(idx), gr.Batch)
}

// CheckSet reports why samples of set cannot go through n.
func (n *Network) CheckSet(set *datasets.Set) error {
	in := Input{Height: set.Height, Width: set.Width, Channels: set.Channels}
	if in != n.Input || set.Classes != n.Classes {
		return fmt.Errorf("models: the data has %dx%dx%d samples in %d classes, the network takes %dx%dx%d in %d",
			in.Height, in.Width, in.Channels, set.Classes, n.Input.Height, n.Input.Width, n.Input.Channels, n.Classes)
	}
	return nil
}

// Correct runs every sample of set through gr in order, drawing noise keys
// from keys across the whole pass, and returns how many are classified
// correctly. progress, if not nil, is called after every batch with the
// samples done.
func (gr *Graph) Correct(ctx context.Context, set *datasets.Set, keys *analogmac.NoiseKeys, progress func(done int)) (int, error) {
	return gr.CorrectOn(ctx, gr.own, set, keys, progress)
}

// CorrectOn is Correct with the products on device d instead of the
// graph's own (see RunOn).
func (gr *Graph) CorrectOn(ctx context.Context, d analogmac.Device, set *datasets.Set, keys *analogmac.NoiseKeys, progress func(done int)) (int, error) {
	if err := gr.Net.CheckSet(set); err != nil {
		return 0, err
	}
	labels := make([]uint8, gr.Batch)
	pred := make([]uint8, gr.Batch)
	idx := make([]int, 0, gr.Batch)
	correct := 0
	for start := 0; start < set.N; start += gr.Batch {
		idx = idx[:0]
		for i := start; i < min(start+gr.Batch, set.N); i++ {
			idx = append(idx, i)
		}
		n := gr.Fill(set, idx, labels)
		if err := gr.RunOn(ctx, d, keys); err != nil {
			return 0, fmt.Errorf("models: evaluation batch %d: %w", start/gr.Batch, err)
		}
		gr.Predict(pred)
		for i := range n {
			if pred[i] == labels[i] {
				correct++
			}
		}
		if progress != nil {
			progress(start + n)
		}
	}
	return correct, nil
}

// Accuracy is the fraction of set that n classifies correctly on the
// noise-free device d (nil: float mode), on an evaluation graph of its own.
func (n *Network) Accuracy(ctx context.Context, d analogmac.Device, set *datasets.Set) (float64, error) {
	gr, err := n.NewEvalGraph(set.N, d)
	if err != nil {
		return 0, err
	}
	defer gr.Close()
	c, err := gr.Correct(ctx, set, nil, nil)
	if err != nil {
		return 0, err
	}
	return float64(c) / float64(set.N), nil
}
