package train

import (
	"context"
	"sync"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/export"
	"github.com/analogloop/analogloop/models"
)

// TrialOptions say how MeasureTrials repeats an evaluation.
type TrialOptions struct {
	N    int    // trials
	Seed uint64 // trial i draws its noise keys from streamSeed(Seed, "trial", i)
	// Parallel is how many trials run at once, each on its own graph (0:
	// 1). The results do not depend on it.
	Parallel int
	Progress Progress
}

// MeasureTrials evaluates net on set on dev, o.N times, each trial with its
// own noise keys derived from o.Seed, and returns the accuracies with their
// mean and std, and the images per second evaluated. It only reads net.
func MeasureTrials(ctx context.Context, net *models.Network, set *datasets.Set, dev analogmac.Device, o TrialOptions) (Trials, float64, error) {
	grs := make([]*models.Graph, min(max(o.Parallel, 1), o.N))
	for i := range grs {
		gr, err := net.NewEvalGraph(set.N, dev)
		if err != nil {
			return Trials{}, 0, err
		}
		defer gr.Close()
		grs[i] = gr
	}
	t, ips, err := TrialsOn(ctx, grs, dev, set, o)
	if s := analogmac.Describe(dev); s.ChipSeed != nil {
		seed := *s.ChipSeed
		t.Chip = &seed
	}
	return t, ips, err
}

// TrialsOn is MeasureTrials on graphs the caller keeps and reuses: as many
// trials run at once as there are graphs (o.Parallel is not used), each
// graph running its products on dev (models.Graph.CorrectOn). Trial i
// draws its noise keys from streamSeed(o.Seed, "trial", i), so the numbers
// are MeasureTrials' whatever the graphs. The first error stops the
// trials not yet started and is returned.
func TrialsOn(ctx context.Context, grs []*models.Graph, dev analogmac.Device, set *datasets.Set, o TrialOptions) (Trials, float64, error) {
	t := Trials{AccuracyStats: export.AccuracyStats{Trials: make([]float64, o.N)}}
	start := time.Now()
	var (
		mu    sync.Mutex
		done  int
		first error
	)
	next := make(chan int)
	var wg sync.WaitGroup
	for _, gr := range grs[:min(len(grs), o.N)] {
		wg.Go(func() {
			for i := range next {
				c, err := gr.CorrectOn(ctx, dev, set, analogmac.NewNoiseKeys(streamSeed(o.Seed, "trial", i)), nil)
				mu.Lock()
				first = cmpErr(first, err)
				t.Trials[i] = float64(c) / float64(set.N)
				done++
				if o.Progress != nil && err == nil {
					o.Progress(done, o.N, 0, float64(done*set.N)/time.Since(start).Seconds())
				}
				mu.Unlock()
			}
		})
	}
	for i := range o.N {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return t, 0, first
	}
	t.Mean, t.Std = export.MeanStd(t.Trials)
	return t, float64(o.N*set.N) / time.Since(start).Seconds(), nil
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
