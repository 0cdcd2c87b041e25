package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/datasets/datasetstest"
	"github.com/analogloop/analogloop/internal/rundir"
	"github.com/analogloop/analogloop/models"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.Epochs, c.HILEpochs, c.Trials, c.Batch = 2, 2, 2, 50
	return c
}

func smallData() *datasets.Data {
	d := datasetstest.Data(400, 150)
	d.Name = "mnist" // the configuration's dataset
	return d
}

// smallOptions runs on chip 1 with chip 2 unseen, as the reference run.
func smallOptions(out string) Options {
	return Options{Out: out, Data: smallData(), InLoop: chip(1), Unseen: chip(2)}
}

func chip(seed uint64) analogmac.Device {
	d, err := analogmac.NewDevice(analogmac.KindChip, seed)
	if err != nil {
		panic(err)
	}
	return d
}

// comparable strips what legitimately differs between two runs: timings.
func comparable(r *Results) Results {
	c := *r
	c.WallSeconds = 0
	c.Throughput.TrainFloat, c.Throughput.TrainHIL, c.Throughput.EvalChip = 0, 0, 0
	c.Command = ""
	strip := func(h []EpochStats) []EpochStats {
		out := make([]EpochStats, len(h))
		for i, st := range h {
			st.Seconds, st.ImgPerSec = 0, 0
			out[i] = st
		}
		return out
	}
	c.History.Float = strip(r.History.Float)
	c.History.HIL = strip(r.History.HIL)
	return c
}

func TestResumeEqualsUninterrupted(t *testing.T) {
	cfg := smallConfig()
	ctx := context.Background()
	want, err := Run(ctx, cfg, smallOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if len(want.History.Float) != 2 || len(want.History.HIL) != 2 || len(want.Accuracy.ChipHIL.Trials) != 2 {
		t.Fatalf("uninterrupted run incomplete: %+v", want.History)
	}
	// Interrupt mid-epoch in each training phase, and once more in the
	// middle of the second epoch, resuming after each interruption.
	stops := []struct {
		phase        string
		epoch, batch int
	}{{phaseFloat, 0, 3}, {phaseFloat, 1, 5}, {phaseHIL, 1, 2}}
	out := t.TempDir()
	var got *Results
	resume := false
	for i := 0; ; i++ {
		cctx, cancel := context.WithCancel(ctx)
		opt := smallOptions(out)
		opt.Resume = resume
		if i < len(stops) {
			s := stops[i]
			opt.onBatch = func(phase string, epoch, batch int) {
				if phase == s.phase && epoch == s.epoch && batch == s.batch {
					cancel()
				}
			}
		}
		got, err = Run(cctx, cfg, opt)
		cancel()
		if i < len(stops) {
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("stop %d: got %v, want ErrInterrupted", i, err)
			}
			ck, err := LoadCheckpoint(out)
			if err != nil {
				t.Fatalf("stop %d: %v", i, err)
			}
			if ck.Phase != stops[i].phase || ck.Epoch != stops[i].epoch || ck.Partial.Batch != stops[i].batch+1 {
				t.Fatalf("stop %d: checkpoint at %s epoch %d batch %d, want %s epoch %d batch %d", i, ck.Phase, ck.Epoch, ck.Partial.Batch, stops[i].phase, stops[i].epoch, stops[i].batch+1)
			}
			resume = true
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	a, b := comparable(want), comparable(got)
	if !equalJSON(t, a, b) {
		t.Fatalf("resumed run differs from the uninterrupted one:\nwant %+v\ngot  %+v", a.Accuracy, b.Accuracy)
	}
	for _, f := range []string{"results.json", "results.md", "curves.png", CheckpointFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output %s: %v", f, err)
		}
	}
}

func TestRunIsReproducibleAndSeedMatters(t *testing.T) {
	cfg := smallConfig()
	cfg.Epochs, cfg.HILEpochs = 1, 1
	a, err := Run(context.Background(), cfg, smallOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), cfg, smallOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, comparable(a), comparable(b)) {
		t.Fatal("two runs with the same seed differ")
	}
	cfg.Seed = 2
	c, err := Run(context.Background(), cfg, smallOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if a.History.Float[0].Loss == c.History.Float[0].Loss {
		t.Fatal("seeds 1 and 2 gave the same first-epoch loss")
	}
	// Chip trials draw fresh noise: on a noisy chip they are not all equal.
	if tr := a.Accuracy.ChipDirect.Trials; tr[0] == tr[1] && a.Accuracy.ChipHIL.Trials[0] == a.Accuracy.ChipHIL.Trials[1] {
		t.Errorf("chip trials identical (%v, %v): no fresh noise per trial?", tr, a.Accuracy.ChipHIL.Trials)
	}
}

func TestNonFiniteLossStopsAndKeepsCheckpoint(t *testing.T) {
	for _, phase := range []string{phaseFloat, phaseHIL} {
		t.Run(phase, func(t *testing.T) { testNonFinite(t, phase) })
	}
}

func testNonFinite(t *testing.T, poisonPhase string) {
	cfg := smallConfig()
	out := t.TempDir()
	var r *runner
	opt := smallOptions(out)
	poisoned := false
	opt.onBatch = func(phase string, epoch, batch int) {
		if phase == poisonPhase && epoch == 1 && batch == 2 && !poisoned {
			poisoned = true
			// Corrupt a weight as a diverging optimiser would. On a device
			// the loss would stay finite: rounding hides a NaN weight.
			r.net.Params()[0].Data()[0] = float32(math.NaN())
		}
	}
	testHookRunner = func(x *runner) { r = x }
	defer func() { testHookRunner = nil }()
	_, err := Run(context.Background(), cfg, opt)
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("got %v, want ErrNonFinite", err)
	}
	ck, err := LoadCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Phase != poisonPhase || ck.Epoch != 1 || ck.Partial.Batch != 0 {
		t.Fatalf("checkpoint at %s epoch %d batch %d, want the end of epoch 1", ck.Phase, ck.Epoch, ck.Partial.Batch)
	}
	for _, w := range ck.Weights {
		for _, v := range w {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatal("the kept checkpoint holds a non-finite weight")
			}
		}
	}
}

func TestUnwritableOutputRefusedBeforeWork(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	trained := false
	opt := smallOptions(filepath.Join(file, "out"))
	opt.onBatch = func(string, int, int) { trained = true }
	_, err := Run(context.Background(), smallConfig(), opt)
	if err == nil || !strings.Contains(err.Error(), "not-a-dir") {
		t.Fatalf("got %v, want an error naming the output path", err)
	}
	if trained {
		t.Fatal("training started before the output directory was checked")
	}
}

func TestResumeWithoutCheckpoint(t *testing.T) {
	opt := smallOptions(t.TempDir())
	opt.Resume = true
	_, err := Run(context.Background(), smallConfig(), opt)
	if err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("got %v, want 'no checkpoint'", err)
	}
}

func TestDamagedCheckpointRefused(t *testing.T) {
	dir := t.TempDir()
	ck := &Checkpoint{Version: checkpointVersion, Phase: phaseFloat, Weights: [][]float32{{1, 2, 3}}}
	if err := ck.Save(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, CheckpointFile)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o644)
	if _, err := LoadCheckpoint(dir); !errors.Is(err, ErrDamagedCheckpoint) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("got %v, want a damage error", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config refused: %v", err)
	}
	cases := map[string]func(*Config){
		"Dataset":    func(c *Config) { c.Dataset = "" },
		"Model":      func(c *Config) { c.Model = models.Spec{} },
		"Epochs":     func(c *Config) { c.Epochs = -1 },
		"HILEpochs":  func(c *Config) { c.HILEpochs = -1 },
		"Batch":      func(c *Config) { c.Batch = 0 },
		"LR":         func(c *Config) { c.LR = math.NaN() },
		"HILLR":      func(c *Config) { c.HILLR = -1 },
		"LRDecay":    func(c *Config) { c.LRDecay = 1.5 },
		"LogitScale": func(c *Config) { c.LogitScale = -1 },
		"Trials":     func(c *Config) { c.Trials = 0 },
		"Augment":    func(c *Config) { c.Augment = -2 },
		"TrainLimit": func(c *Config) { c.TrainLimit = 10 },
		"TestLimit":  func(c *Config) { c.TestLimit = -1 },
	}
	for field, mutate := range cases {
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Config."+field+" ") {
			t.Errorf("%s: got %v, want a FieldError naming the field", field, err)
		}
	}
	// What only the data can tell is refused by Run, before any work.
	for field, mutate := range map[string]func(*Config){
		"TrainLimit": func(c *Config) { c.TrainLimit = 1000 },
		"TestLimit":  func(c *Config) { c.TestLimit = 1000 },
		"Batch":      func(c *Config) { c.Batch = 500 },
		"Augment":    func(c *Config) { c.Augment = 20 },
	} {
		c := smallConfig()
		mutate(&c)
		opt := smallOptions(t.TempDir())
		opt.onBatch = func(string, int, int) { t.Fatalf("%s: training started", field) }
		_, err := Run(context.Background(), c, opt)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v, want a FieldError naming it", field, err)
		}
	}
}

func TestTranslate(t *testing.T) {
	img := make([]float32, 9)
	img[4] = 1 // centre of a 3x3 image
	translate(img, 3, 3, 1, 1, -1)
	for i, v := range img {
		if (i == 2) != (v == 1) {
			t.Fatalf("shift (1,-1) of the centre: got %v, want only index 2 set", img)
		}
	}
	// Two channels move together.
	rgb := []float32{0, 0, 0, 0, 1, 2, 0, 0} // 2x2x2, pixel (0,1) = (1, 2)... at index 4: pixel (1,0)
	translate(rgb, 2, 2, 2, 1, -1)
	if want := []float32{0, 0, 1, 2, 0, 0, 0, 0}; fmt.Sprint(rgb) != fmt.Sprint(want) {
		t.Fatalf("two-channel shift: got %v, want %v", rgb, want)
	}
	translate(img, 3, 3, 1, 1, 0) // pushed off the right edge
	for _, v := range img {
		if v != 0 {
			t.Fatalf("pixel survived leaving the image: %v", img)
		}
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

func TestFreshRunRefusesToOverwriteUnfinishedRun(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	opt := smallOptions(out)
	opt.onBatch = func(string, int, int) { cancel() }
	if _, err := Run(ctx, smallConfig(), opt); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v, want ErrInterrupted", err)
	}
	before, _ := os.ReadFile(filepath.Join(out, CheckpointFile))
	_, err := Run(context.Background(), smallConfig(), smallOptions(out))
	if err == nil || !strings.Contains(err.Error(), "-resume") {
		t.Fatalf("got %v, want a refusal pointing to -resume", err)
	}
	after, _ := os.ReadFile(filepath.Join(out, CheckpointFile))
	if string(before) != string(after) {
		t.Fatal("the unfinished run's checkpoint was changed")
	}
}

// TestTrialsInParallelEqualSerial: trials run concurrently, each on its own
// graph of the same network and device, give the serial numbers.
func TestTrialsInParallelEqualSerial(t *testing.T) {
	data := smallData()
	net, err := models.New(models.BSS2MNISTName, models.Input{Height: 28, Width: 28, Channels: 1}, 10)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(4)
	ctx := context.Background()
	serial, _, err := MeasureTrials(ctx, net, data.Test, chip(1), TrialOptions{N: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	par, _, err := MeasureTrials(ctx, net, data.Test, chip(1), TrialOptions{N: 5, Seed: 3, Parallel: 3})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(serial.Trials) != fmt.Sprint(par.Trials) || serial.Mean != par.Mean {
		t.Fatalf("serial %v, parallel %v", serial.Trials, par.Trials)
	}
	if serial.Std == 0 {
		t.Fatalf("trials %v all equal: no fresh noise per trial", serial.Trials)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := MeasureTrials(canceled, net, data.Test, chip(1), TrialOptions{N: 5, Seed: 3, Parallel: 2}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

// TestResumeRefusesOtherDevices: a run started on chip 1 does not continue
// on chip 3, nor without its unseen device.
func TestResumeRefusesOtherDevices(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	opt := smallOptions(out)
	opt.onBatch = func(string, int, int) { cancel() }
	if _, err := Run(ctx, smallConfig(), opt); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v, want ErrInterrupted", err)
	}
	for name, edit := range map[string]func(*Options){
		"other chip":  func(o *Options) { o.InLoop = chip(3) },
		"no unseen":   func(o *Options) { o.Unseen = nil },
		"other data":  func(o *Options) { o.Data.Test = o.Data.Test.Head(100) },
		"data's name": func(o *Options) { o.Data.Name = "fashion-mnist" },
	} {
		o := smallOptions(out)
		o.Resume = true
		edit(&o)
		o.onBatch = func(string, int, int) { t.Fatalf("%s: training resumed", name) }
		if _, err := Run(context.Background(), smallConfig(), o); err == nil {
			t.Errorf("%s: resume accepted", name)
		} else if name != "data's name" && !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: got %v, want ErrMismatch", name, err)
		}
	}
}

// flaky is a device that becomes unavailable after some runs, as a remote
// chip whose server is gone.
type flaky struct {
	analogmac.Device
	runs *atomic.Int64
	left int64
}

func (f flaky) Program(ctx context.Context, m analogmac.Matrix) (analogmac.Program, error) {
	p, err := f.Device.Program(ctx, m)
	return flakyProgram{p, f}, err
}

// Spec forwards the wrapped device's description, as wrappers do.
func (f flaky) Spec() analogmac.Spec { return analogmac.Describe(f.Device) }

type flakyProgram struct {
	analogmac.Program
	f flaky
}

func (p flakyProgram) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	if p.f.runs.Add(1) > p.f.left {
		return fmt.Errorf("connection refused: %w", analogmac.ErrUnavailable)
	}
	return p.Program.Run(ctx, dst, x, batch, noise)
}

// TestDeviceLostKeepsCheckpointAndResumes: when the device in the loop
// becomes unavailable mid-run, the run stops with ErrInterrupted and a
// checkpoint, and a resume on a working device ends with the results of an
// undisturbed run.
func TestDeviceLostKeepsCheckpointAndResumes(t *testing.T) {
	cfg := smallConfig()
	want, err := Run(context.Background(), cfg, smallOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	opt := smallOptions(out)
	opt.InLoop = flaky{Device: chip(1), runs: new(atomic.Int64), left: 40}
	_, err = Run(context.Background(), cfg, opt)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, analogmac.ErrUnavailable) {
		t.Fatalf("got %v, want ErrInterrupted wrapping ErrUnavailable", err)
	}
	if ck, err := LoadCheckpoint(out); err != nil || ck.Phase != phaseHIL {
		t.Fatalf("checkpoint %v, %v: want one in the in-the-loop phase", ck, err)
	}
	opt = smallOptions(out)
	opt.Resume = true
	got, err := Run(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, comparable(want), comparable(got)) {
		t.Fatalf("resumed after a lost device: %+v, undisturbed %+v", got.Accuracy, want.Accuracy)
	}
}

// TestSecondRunOnLockedOutRefused: while a run holds -out, another run (or
// a resume) in the same directory is refused, naming the holder; what a
// killed write left is removed by the next run.
func TestSecondRunOnLockedOutRefused(t *testing.T) {
	out := t.TempDir()
	leftovers := []string{".checkpoint.gob.tmp-4242", ".export-float.json.tmp-77"}
	for _, n := range leftovers {
		os.WriteFile(filepath.Join(out, n), []byte("half"), 0o644)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	opt := smallOptions(out)
	once := false
	opt.onBatch = func(string, int, int) {
		if !once {
			once = true
			close(started)
			<-release
		}
	}
	go func() {
		_, err := Run(context.Background(), smallConfig(), opt)
		done <- err
	}()
	<-started
	for _, n := range leftovers {
		if _, err := os.Stat(filepath.Join(out, n)); !os.IsNotExist(err) {
			t.Errorf("%s survived the start of a run: %v", n, err)
		}
	}
	for _, resume := range []bool{false, true} {
		o := smallOptions(out)
		o.Resume = resume
		o.onBatch = func(string, int, int) { t.Error("the second run trained") }
		_, err := Run(context.Background(), smallConfig(), o)
		if resume && err != nil && strings.Contains(err.Error(), "no checkpoint") {
			continue // the first run has not written one yet: refused anyway
		}
		if !errors.Is(err, rundir.ErrLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
			t.Errorf("resume=%v: got %v, want a refusal naming PID %d", resume, err, os.Getpid())
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestHostileCheckpointRefused: a FIFO or an oversized file in place of the
// checkpoint is refused at once as damaged, without blocking or reading it.
func TestHostileCheckpointRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, CheckpointFile)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(dir); !errors.Is(err, ErrDamagedCheckpoint) {
		t.Errorf("FIFO: %v", err)
	}
	os.Remove(path)
	f, _ := os.Create(path)
	f.Truncate(MaxCheckpointBytes + 1)
	f.Close()
	if _, err := LoadCheckpoint(dir); !errors.Is(err, ErrDamagedCheckpoint) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("oversized: %v", err)
	}
}
