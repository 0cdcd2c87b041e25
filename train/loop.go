package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// EpochStats is what one training epoch measured.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	Loss      float64 `json:"loss"`
	TrainAcc  float64 `json:"train_accuracy"`
	TestAcc   float64 `json:"test_accuracy"`
	LR        float64 `json:"lr"`
	ImgPerSec float64 `json:"img_per_s"`
	Seconds   float64 `json:"seconds"`
}

// ErrNonFinite reports a loss or a weight that is NaN or infinite.
var ErrNonFinite = errors.New("train: training diverged (a loss or weight is not finite)")

// streamSeed derives independent, reproducible seeds for each use of the
// run's seed (shuffling, noise) in each phase and epoch.
func streamSeed(seed uint64, stream string, epoch int) uint64 {
	h := seed ^ 0x9e3779b97f4a7c15
	for _, c := range stream {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	h ^= uint64(epoch) * 0xbf58476d1ce4e5b9
	h ^= h >> 31
	return h * 0x94d049bb133111eb
}

// Batches feeds a set to a graph in a fixed order. The permutation fixes
// the order.
type Batches struct {
	Set   *datasets.Set
	Order []int
	// Shift, when > 0, translates each image by a random offset of up to
	// Shift pixels in x and y (zeros fill in), drawn from Rng: the cheap
	// augmentation that keeps a small network from over-fitting.
	Shift int
	Rng   *rand.Rand
}

// Shuffled returns the set in an order drawn from seed.
func Shuffled(set *datasets.Set, seed uint64) Batches {
	b := InOrder(set)
	rng := rand.New(rand.NewPCG(seed, 0x73687566)) // "shuf"
	rng.Shuffle(len(b.Order), func(i, j int) { b.Order[i], b.Order[j] = b.Order[j], b.Order[i] })
	return b
}

// InOrder returns the set in its stored order.
func InOrder(set *datasets.Set) Batches {
	order := make([]int, set.N)
	for i := range order {
		order[i] = i
	}
	return Batches{Set: set, Order: order}
}

// Fill loads batch k into gr (padding the last batch with its first
// sample) and returns how many samples are real.
func (b Batches) Fill(gr *models.Graph, k int, labels []uint8) int {
	lo := k * gr.Batch
	hi := min(lo+gr.Batch, len(b.Order))
	n := gr.Fill(b.Set, b.Order[lo:hi], labels)
	if b.Shift > 0 {
		in, per := gr.Input(), b.Set.Values()
		for i := range gr.Batch {
			translate(in[i*per:(i+1)*per], b.Set.Height, b.Set.Width, b.Set.Channels,
				b.Rng.IntN(2*b.Shift+1)-b.Shift, b.Rng.IntN(2*b.Shift+1)-b.Shift)
		}
	}
	return n
}

// Count is the number of batches of size batch.
func (b Batches) Count(batch int) int { return (len(b.Order) + batch - 1) / batch }

// Progress receives updates during long loops; nil is allowed.
type Progress func(done, total int, loss float64, imgPerSec float64)

// EpochOptions say what one training epoch does.
type EpochOptions struct {
	Set     *datasets.Set
	Augment int    // image shifts of up to this many pixels (0: none)
	Seed    uint64 // the run's seed
	Stream  string // the phase: every draw of the epoch derives from (Seed, Stream, Epoch, batch)
	Epoch   int    // 0-based
	// Partial is where the epoch starts (its next batch) and the running
	// sums so far; Epoch updates it after every batch.
	Partial  *Partial
	Progress Progress
}

// Epoch trains gr's network for one epoch with opt, from batch
// o.Partial.Batch on. The graph's device runs the forward pass. Every batch
// draws its shuffling, shifts and device noise from seeds derived from
// (Seed, Stream, Epoch, batch), so an epoch interrupted after any batch
// resumes exactly. Only full batches are used. On cancellation it returns
// ctx.Err() after finishing the batch in progress, with o.Partial saying
// where to continue.
func Epoch(ctx context.Context, gr *models.Graph, opt *layers.Adam, o EpochOptions) (EpochStats, error) {
	return epoch(ctx, gr, opt, o, nil)
}

// epoch is Epoch, and EpochOn when s is not nil.
func epoch(ctx context.Context, gr *models.Graph, opt *layers.Adam, o EpochOptions, s Schedule) (EpochStats, error) {
	p := o.Partial
	st := EpochStats{Epoch: o.Epoch + 1, LR: opt.LR} // reported 1-based
	b := Shuffled(o.Set, streamSeed(o.Seed, o.Stream+"/shuffle", o.Epoch))
	b.Shift = o.Augment
	full := o.Set.N / gr.Batch
	if full == 0 {
		return st, fmt.Errorf("train: %d samples make no batch of %d", o.Set.N, gr.Batch)
	}
	labels := make([]uint8, gr.Batch)
	pred := make([]uint8, gr.Batch)
	keys := analogmac.NewNoiseKeys(0)
	start := time.Now()
	prior, first := p.Seconds, p.Batch
	for ; p.Batch < full; p.Batch++ {
		if err := ctx.Err(); err != nil {
			p.Seconds = prior + time.Since(start).Seconds()
			return st, err
		}
		k := p.Batch
		bs := streamSeed(o.Seed, o.Stream, o.Epoch<<24|k)
		b.Rng = rand.New(rand.NewPCG(bs, 1))
		keys.Reset(bs ^ 0x6e6f697365) // "noise"
		b.Fill(gr, k, labels)
		if err := gr.SetLabels(labels); err != nil {
			return st, err
		}
		var err error
		if s == nil {
			err = gr.Run(ctx, keys)
		} else {
			var dev analogmac.Device
			if dev, err = s.Device(o.Epoch, k); err != nil {
				return st, fmt.Errorf("train: epoch %d batch %d: schedule: %w", o.Epoch, k, err)
			}
			if dev == nil {
				err = gr.Run(ctx, keys)
			} else {
				err = gr.RunOn(ctx, dev, keys)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				// The batch did not finish: it is redone on resume.
				p.Seconds = prior + time.Since(start).Seconds()
				return st, ctx.Err()
			}
			return st, fmt.Errorf("train: epoch %d batch %d: %w", o.Epoch, k, err)
		}
		loss := gr.Loss()
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return st, fmt.Errorf("%w: epoch %d batch %d: loss %v", ErrNonFinite, o.Epoch, k, loss)
		}
		if err := opt.Update(gr.Params(), gr.Grads()); err != nil {
			return st, err
		}
		if err := layers.NonFinite(gr.Params()); err != nil {
			return st, fmt.Errorf("%w: epoch %d batch %d: %v", ErrNonFinite, o.Epoch, k, err)
		}
		gr.Predict(pred)
		for i, c := range pred {
			if c == labels[i] {
				p.Correct++
			}
		}
		p.LossSum += loss
		if o.Progress != nil {
			el := time.Since(start).Seconds()
			o.Progress(k+1, full, p.LossSum/float64(k+1), float64((k+1-first)*gr.Batch)/el)
		}
	}
	p.Seconds = prior + time.Since(start).Seconds()
	st.Seconds = p.Seconds
	st.Loss = p.LossSum / float64(full)
	st.TrainAcc = float64(p.Correct) / float64(full*gr.Batch)
	st.ImgPerSec = float64(full*gr.Batch) / st.Seconds
	return st, nil
}

// Accuracy evaluates gr's network on every sample of set, drawing the
// device's noise keys from keys across the whole pass, and returns the
// fraction classified correctly.
func Accuracy(ctx context.Context, gr *models.Graph, set *datasets.Set, keys *analogmac.NoiseKeys) (float64, error) {
	n, err := gr.Correct(ctx, set, keys, nil)
	if err != nil {
		return 0, err
	}
	return float64(n) / float64(set.N), nil
}

// translate moves an h x w x c image by (dx, dy) pixels in place, filling
// the uncovered border with zeros.
func translate(img []float32, h, w, c, dx, dy int) {
	if dx == 0 && dy == 0 {
		return
	}
	var buf [28 * 28]float32
	tmp := buf[:0]
	if len(img) > len(buf) {
		tmp = make([]float32, 0, len(img))
	}
	tmp = append(tmp, img...)
	clear(img)
	row := w * c
	for y := max(0, dy); y < min(h, h+dy); y++ {
		sy := y - dy
		x0, x1 := max(0, dx), min(w, w+dx)
		copy(img[y*row+x0*c:y*row+x1*c], tmp[sy*row+(x0-dx)*c:])
	}
}
