package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
	"github.com/analogloop/analogloop/models"
)

// Schedule says which device runs the forward pass of each training batch:
// Device(epoch, batch) for batch k of 0-based epoch e. A schedule that
// changes device from batch to batch trains among several chips (every
// batch on another chip of a set) or on a fresh random chip every batch.
// It must be a pure function of its arguments (and of what it was built
// from) for a resumed epoch to equal an uninterrupted one.
type Schedule interface {
	Device(epoch, batch int) (analogmac.Device, error)
}

// ScheduleFunc adapts a function to Schedule.
type ScheduleFunc func(epoch, batch int) (analogmac.Device, error)

// Device implements Schedule.
func (f ScheduleFunc) Device(epoch, batch int) (analogmac.Device, error) { return f(epoch, batch) }

// EpochOn is Epoch with the forward pass of each batch on the device s
// gives for it (models.Graph.RunOn); gr must be compiled for a device (not
// float mode), which it runs on where s gives nil. Everything else (the
// order, the shifts, the noise keys of each batch, the optimiser step, the
// partial position for resuming) is exactly Epoch's: with a schedule that
// always gives gr's own device, EpochOn and Epoch train identically.
func EpochOn(ctx context.Context, gr *models.Graph, opt *layers.Adam, o EpochOptions, s Schedule) (EpochStats, error) {
	p := o.Partial
	st := EpochStats{Epoch: o.Epoch + 1, LR: opt.LR}
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
		dev, err := s.Device(o.Epoch, k)
		if err != nil {
			return st, fmt.Errorf("train: epoch %d batch %d: schedule: %w", o.Epoch, k, err)
		}
		bs := streamSeed(o.Seed, o.Stream, o.Epoch<<24|k)
		b.Rng = rand.New(rand.NewPCG(bs, 1))
		keys.Reset(bs ^ 0x6e6f697365) // "noise"
		b.Fill(gr, k, labels)
		if err := gr.SetLabels(labels); err != nil {
			return st, err
		}
		if dev == nil {
			err = gr.Run(ctx, keys)
		} else {
			err = gr.RunOn(ctx, dev, keys)
		}
		if err != nil {
			if ctx.Err() != nil {
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

// StreamSeed derives the seed of one use of a run's seed: every draw of a
// phase (Stream) and epoch comes from it, as in Run. Callers that build
// their own phases (package study) derive their seeds the same way.
func StreamSeed(seed uint64, stream string, epoch int) uint64 { return streamSeed(seed, stream, epoch) }
