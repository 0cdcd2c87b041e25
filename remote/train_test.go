package remote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/datasetstest"
	"github.com/analogloop/analogloop/remote"
	"github.com/analogloop/analogloop/train"
)

// tinyConfig is a training run of a few seconds: the MNIST network on
// synthetic digits.
func tinyConfig(seed uint64) train.Config {
	c := train.DefaultConfig()
	c.Epochs, c.HILEpochs, c.Trials, c.Batch, c.Seed = 1, 1, 2, 50, seed
	return c
}

func tinyData() *datasets.Data {
	d := datasetstest.Data(300, 100)
	d.Name = "mnist"
	return d
}

// outcome is what must be identical between two runs of one
// configuration: accuracies and per-epoch losses and accuracies, without
// timings.
func outcome(r *train.Results) string {
	c := struct {
		Acc     any
		Dev     analogmac.Spec
		Unseen  *analogmac.Spec
		History [][4]float64
	}{Acc: r.Accuracy, Dev: r.Device, Unseen: r.UnseenDevice}
	for _, h := range append(r.History.Float, r.History.HIL...) {
		c.History = append(c.History, [4]float64{h.Loss, h.TrainAcc, h.TestAcc, h.LR})
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func runTiny(t *testing.T, seed uint64, inLoop, unseen analogmac.Device) string {
	t.Helper()
	res, err := train.Run(context.Background(), tinyConfig(seed), train.Options{Out: t.TempDir(), Data: tinyData(), InLoop: inLoop, Unseen: unseen, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return outcome(res)
}

// TestFourConcurrentTrainers: four trainers (different seeds) train at
// once against one server of chip 1, with a second server as their unseen
// chip 2; each ends with exactly the results it gets alone, and those are
// the results of the same run on local chips 1 and 2. Their forward passes
// go as chains of runs.
func TestFourConcurrentTrainers(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 8 times")
	}
	s1 := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 1)})
	s2 := chipservertest.Start(t, "", chipserver.Config{Device: device(t, "chip", 2)})
	const n = 4
	var alone [n]string
	for i := range n {
		alone[i] = runTiny(t, uint64(10+i), device(t, "chip", 1), device(t, "chip", 2))
	}
	var together [n]string
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o := remote.Options{Addr: s1.Addr, Logger: quiet, Client: fmt.Sprintf("trainer %d", i)}
			d1, err := remote.Dial(context.Background(), o)
			if err != nil {
				t.Error(err)
				return
			}
			defer d1.Close()
			o.Addr = s2.Addr
			d2, err := remote.Dial(context.Background(), o)
			if err != nil {
				t.Error(err)
				return
			}
			defer d2.Close()
			res, err := train.Run(context.Background(), tinyConfig(uint64(10+i)), train.Options{Out: t.TempDir(), Data: tinyData(), InLoop: d1, Unseen: d2, Logger: quiet})
			if err != nil {
				t.Error(err)
				return
			}
			together[i] = outcome(res)
			// The Runner ran the three analog layers' forward passes as
			// chains: one request each.
			if st := d1.Stats(); st.Chains == 0 || st.Runs < 3*st.Chains {
				t.Errorf("trainer %d: stats %+v: want the forward passes as chains", i, st)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if together[i] != alone[i] {
			t.Errorf("trainer %d: concurrent remote run differs from its local run alone:\n%s\n%s", i, together[i], alone[i])
		}
	}
	for i := 1; i < n; i++ {
		if alone[i] == alone[0] {
			t.Errorf("trainers 0 and %d have the same results: the test proves nothing", i)
		}
	}
}
