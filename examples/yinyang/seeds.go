//go:build ignore

// Seeds repeats the default Yin-Yang experiment (`go run ./cmd/train
// -dataset yinyang`) for weight seeds 1..N with three networks: the
// default 4-120-3, the dataset paper's 4-30-3 (models/hidden30.json) and a
// shallow 4-3 network (models/shallow.json), all with the default
// hyper-parameters. It writes one CSV row per run to stdout and each
// column's mean and std over the seeds to stderr.
//
//	go run examples/yinyang/seeds.go > results/yinyang/seeds.csv
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets/yinyang"
	"github.com/analogloop/analogloop/models"
	"github.com/analogloop/analogloop/train"
)

func main() {
	n := flag.Int("n", 20, "seeds 1..n")
	flag.Parse()
	data, err := yinyang.Load(yinyang.Options{})
	check(err)
	specs := []models.Spec{models.YinYang()}
	for _, f := range []string{"examples/yinyang/models/hidden30.json", "examples/yinyang/models/shallow.json"} {
		s, err := models.ReadSpec(f)
		check(err)
		specs = append(specs, s)
	}
	cols := []string{"float", "ideal", "chip1_direct", "chip1_hil", "chip2_hil", "ideal_hil"}
	fmt.Print("model,seed")
	for _, c := range cols {
		fmt.Print(",", c)
	}
	fmt.Println()
	for _, spec := range specs {
		var all [][]float64
		for seed := 1; seed <= *n; seed++ {
			cfg := train.DefaultConfigFor(yinyang.Name)
			cfg.Model, cfg.Seed = spec, uint64(seed)
			c1, err := analogmac.Preset(analogmac.KindChip, 1)
			check(err)
			c2, err := analogmac.Preset(analogmac.KindChip, 2)
			check(err)
			d1, err := analogmac.New(c1)
			check(err)
			d2, err := analogmac.New(c2)
			check(err)
			out, err := os.MkdirTemp("", "yyseeds")
			check(err)
			res, err := train.Run(context.Background(), cfg, train.Options{Out: out, Data: data, InLoop: d1, Unseen: d2,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			d1.Close()
			d2.Close()
			os.RemoveAll(out)
			check(err)
			a := res.Accuracy
			v := []float64{a.Float, a.Ideal, a.ChipDirect.Mean, a.ChipHIL.Mean, a.ChipHILOtherChip.Mean, a.IdealHIL}
			fmt.Printf("%s,%d", spec.Name, seed)
			for _, x := range v {
				fmt.Printf(",%.4f", x)
			}
			fmt.Println()
			all = append(all, v)
		}
		fmt.Fprintf(os.Stderr, "%s over %d seeds:", spec.Name, len(all))
		for j, c := range cols {
			var s, ss float64
			for _, v := range all {
				s += v[j]
			}
			mean := s / float64(len(all))
			for _, v := range all {
				ss += (v[j] - mean) * (v[j] - mean)
			}
			fmt.Fprintf(os.Stderr, " %s %.1f ± %.1f %%", c, 100*mean, 100*math.Sqrt(ss/float64(max(1, len(all)-1))))
		}
		fmt.Fprintln(os.Stderr)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "seeds:", err)
		os.Exit(1)
	}
}
