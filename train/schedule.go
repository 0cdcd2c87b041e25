package train

import (
	"context"

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
	return epoch(ctx, gr, opt, o, s)
}

// StreamSeed derives the seed of one use of a run's seed: every draw of a
// phase (Stream) and epoch comes from it, as in Run. Callers that build
// their own phases (package study) derive their seeds the same way.
func StreamSeed(seed uint64, stream string, epoch int) uint64 { return streamSeed(seed, stream, epoch) }
