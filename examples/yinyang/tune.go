//go:build ignore

// Tune runs the Yin-Yang experiment with the test split replaced by the
// validation split (1000 samples from seed 41), so that hyper-parameters
// are chosen without looking at the test split, and prints each seed's
// accuracies and their mean. Flags change one setting from the
// placeholder defaults the tuning started from (lr 0.3, logit scale 0.25,
// derived sends); docs/yinyang.md lists the runs.
//
//	go run examples/yinyang/tune.go -lr 1 -logit 0.1 -seeds 1,2,3,4,5,6,7,8
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/yinyang"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/train"
)

func main() {
	hidden := flag.Int("hidden", 120, "hidden units")
	s1 := flag.Int("s1", 0, "sends of dense1 (0: derived)")
	s2 := flag.Int("s2", 0, "sends of dense2 (0: derived)")
	shift := flag.Int("shift", 1, "ConvertingReLU shift")
	epochs := flag.Int("epochs", 100, "float epochs")
	hil := flag.Int("hil-epochs", 20, "in-the-loop epochs")
	lr := flag.Float64("lr", 0.3, "float learning rate")
	hlr := flag.Float64("hil-lr", 0.03, "in-the-loop learning rate")
	decay := flag.Float64("decay", 0.97, "learning-rate factor per epoch")
	batch := flag.Int("batch", 50, "batch size")
	logit := flag.Float64("logit", 0.25, "logit scale")
	seeds := flag.String("seeds", "1,2,3", "comma-separated weight seeds")
	flag.Parse()
	train5k, err := yinyang.Set(yinyang.DefaultTrain, yinyang.DefaultTrainSeed)
	check(err)
	val, err := yinyang.Set(yinyang.DefaultValidation, yinyang.DefaultValidationSeed)
	check(err)
	data := &datasets.Data{Name: "yinyang", Source: "train 42 / validation 41", Train: train5k, Test: val}
	var sums [6]float64
	var n float64
	var wall float64
	for _, ss := range strings.Split(*seeds, ",") {
		seed, err := strconv.ParseUint(ss, 10, 64)
		check(err)
		cfg := train.DefaultConfigFor("yinyang")
		sp := models.YinYang()
		sp.Layers[0].Out = *hidden
		sp.Layers[0].Sends = *s1
		sp.Layers[1].Shift = shift
		sp.Layers[2].Sends = *s2
		cfg.Model = sp
		cfg.Epochs, cfg.HILEpochs, cfg.LR, cfg.HILLR, cfg.LRDecay, cfg.Batch, cfg.Seed = *epochs, *hil, *lr, *hlr, *decay, *batch, seed
		cfg.LogitScale = *logit
		c1, err := analogmac.Preset(analogmac.KindChip, 1)
		check(err)
		c2, err := analogmac.Preset(analogmac.KindChip, 2)
		check(err)
		d1, err := analogmac.New(c1)
		check(err)
		d2, err := analogmac.New(c2)
		check(err)
		out, err := os.MkdirTemp("", "yytune")
		check(err)
		res, err := train.Run(context.Background(), cfg, train.Options{Out: out, Data: data, InLoop: d1, Unseen: d2, Parallel: 2,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		d1.Close()
		d2.Close()
		os.RemoveAll(out)
		check(err)
		a := res.Accuracy
		v := [6]float64{a.Float, a.Ideal, a.ChipDirect.Mean, a.ChipHIL.Mean, a.ChipHILOtherChip.Mean, a.IdealHIL}
		fmt.Printf("  seed %d sends %v: float %.3f ideal %.3f direct %.3f hil %.3f chip2 %.3f idealHIL %.3f (%.0f s)\n", seed, sendsOf(res.Model), v[0], v[1], v[2], v[3], v[4], v[5], res.WallSeconds)
		for i := range v {
			sums[i] += v[i]
		}
		n++
		wall += res.WallSeconds
	}
	fmt.Printf("MEAN %s: float %.3f ideal %.3f direct %.3f hil %.3f chip2 %.3f idealHIL %.3f (%.0f s/run)\n", strings.Join(os.Args[1:], " "),
		sums[0]/n, sums[1]/n, sums[2]/n, sums[3]/n, sums[4]/n, sums[5]/n, wall/n)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "tune:", err)
		os.Exit(1)
	}
}

func sendsOf(s models.Spec) []int {
	var o []int
	for _, l := range s.Layers {
		if l.Type == models.Dense {
			o = append(o, l.Sends)
		}
	}
	return o
}
