package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets/mnist"
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
var ErrNonFinite = fmt.Errorf("train: training diverged (a loss or weight is not finite)")

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

// Batches feeds a set to a graph: images scaled to 5-bit inputs, labels
// one-hot. The permutation fixes the order.
type Batches struct {
	Set   *mnist.Set
	Order []int
	// Shift, when > 0, translates each image by a random offset of up to
	// Shift pixels in x and y (zeros fill in), drawn from Rng: the cheap
	// augmentation that keeps this small network from over-fitting.
	Shift int
	Rng   *rand.Rand
}

// Shuffled returns the set in an order drawn from seed.
func Shuffled(set *mnist.Set, seed uint64) Batches {
	b := InOrder(set)
	rng := rand.New(rand.NewPCG(seed, 0x73687566)) // "shuf"
	rng.Shuffle(len(b.Order), func(i, j int) { b.Order[i], b.Order[j] = b.Order[j], b.Order[i] })
	return b
}

// InOrder returns the set in its stored order.
func InOrder(set *mnist.Set) Batches {
	order := make([]int, set.N)
	for i := range order {
		order[i] = i
	}
	return Batches{Set: set, Order: order}
}

// Fill loads batch k into gr (padding the last batch with image 0) and
// returns how many samples are real.
func (b Batches) Fill(gr *models.Graph, k int, labels []uint8) int {
	n := min(gr.Batch, len(b.Order)-k*gr.Batch)
	in := gr.Input()
	per := b.Set.Rows * b.Set.Cols
	for i := 0; i < gr.Batch; i++ {
		idx := b.Order[0]
		if i < n {
			idx = b.Order[k*gr.Batch+i]
		}
		dst := in[i*per : (i+1)*per]
		layers.ScaleImages(dst, b.Set.Image(idx))
		if b.Shift > 0 {
			translate(dst, b.Set.Rows, b.Set.Cols, b.Rng.IntN(2*b.Shift+1)-b.Shift, b.Rng.IntN(2*b.Shift+1)-b.Shift)
		}
		labels[i] = b.Set.Labels[idx]
	}
	return n
}

// Count is the number of batches of size batch.
func (b Batches) Count(batch int) int { return (len(b.Order) + batch - 1) / batch }

// Progress receives updates during long loops; nil is allowed.
type Progress func(done, total int, loss float64, imgPerSec float64)

// Epoch trains gr's network for one epoch over set with opt, from batch
// p.Batch on, adding to p's running sums. The network's backend decides
// where the forward pass runs. Every batch draws its shuffling, shifts and
// device noise from seeds derived from (seed, stream, epoch, batch), so an
// epoch interrupted after any batch resumes exactly. Only full batches are
// used. On cancellation it returns ctx.Err() after finishing the batch in
// progress, with p saying where to continue.
func Epoch(ctx context.Context, gr *models.Graph, opt *layers.Adam, set *mnist.Set, augmentPx int, seed uint64, stream string, epoch int, p *Partial, progress Progress) (EpochStats, error) {
	st := EpochStats{Epoch: epoch + 1, LR: opt.LR} // reported 1-based
	ns, noisy := gr.Net.Backend.Device.(analogmac.NoiseSeeder)
	b := Shuffled(set, streamSeed(seed, stream+"/shuffle", epoch))
	b.Shift = augmentPx
	full := set.N / gr.Batch
	labels := make([]uint8, gr.Batch)
	pred := make([]uint8, gr.Batch)
	start := time.Now()
	prior, first := p.Seconds, p.Batch
	for ; p.Batch < full; p.Batch++ {
		if err := ctx.Err(); err != nil {
			p.Seconds = prior + time.Since(start).Seconds()
			return st, err
		}
		k := p.Batch
		bs := streamSeed(seed, stream, epoch<<24|k)
		b.Rng = rand.New(rand.NewPCG(bs, 1))
		if noisy {
			ns.SeedNoise(bs ^ 0x6e6f697365) // "noise"
		}
		b.Fill(gr, k, labels)
		if err := gr.SetLabels(labels); err != nil {
			return st, err
		}
		if err := gr.Run(); err != nil {
			return st, fmt.Errorf("train: epoch %d batch %d: %w", epoch, k, err)
		}
		loss := gr.Loss()
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return st, fmt.Errorf("%w: epoch %d batch %d: loss %v", ErrNonFinite, epoch, k, loss)
		}
		if err := opt.Update(gr.Params(), gr.Grads()); err != nil {
			return st, err
		}
		if err := layers.NonFinite(gr.Params()); err != nil {
			return st, fmt.Errorf("%w: epoch %d batch %d: %v", ErrNonFinite, epoch, k, err)
		}
		gr.Predict(pred)
		for i, c := range pred {
			if c == labels[i] {
				p.Correct++
			}
		}
		p.LossSum += loss
		if progress != nil {
			el := time.Since(start).Seconds()
			progress(k+1, full, p.LossSum/float64(k+1), float64((k+1-first)*gr.Batch)/el)
		}
	}
	p.Seconds = prior + time.Since(start).Seconds()
	st.Seconds = p.Seconds
	st.Loss = p.LossSum / float64(full)
	st.TrainAcc = float64(p.Correct) / float64(full*gr.Batch)
	st.ImgPerSec = float64(full*gr.Batch) / st.Seconds
	return st, nil
}

// Accuracy evaluates gr's network on every sample of set and returns the
// fraction classified correctly.
func Accuracy(ctx context.Context, gr *models.Graph, set *mnist.Set) (float64, error) {
	b := InOrder(set)
	labels := make([]uint8, gr.Batch)
	pred := make([]uint8, gr.Batch)
	correct := 0
	for k := 0; k < b.Count(gr.Batch); k++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := b.Fill(gr, k, labels)
		if err := gr.Run(); err != nil {
			return 0, fmt.Errorf("train: evaluation batch %d: %w", k, err)
		}
		gr.Predict(pred)
		for i := 0; i < n; i++ {
			if pred[i] == labels[i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(set.N), nil
}

// translate moves an h x w image by (dx, dy) pixels in place, filling the
// uncovered border with zeros.
func translate(img []float32, h, w, dx, dy int) {
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
	for y := max(0, dy); y < min(h, h+dy); y++ {
		sy := y - dy
		for x := max(0, dx); x < min(w, w+dx); x++ {
			img[y*w+x] = tmp[sy*w+x-dx]
		}
	}
}
