package models

import (
	"context"
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/layers"
)

// Graph is a network compiled for a fixed batch size, to run on one
// device. Training graphs also compute the loss's gradients with respect
// to every parameter. A network of this project's layers runs on a
// layers.Runner, which computes exactly what the Gorgonia graph computes
// (the same device calls, noise keys and float32 operations) without its
// machine; any other network, or GraphOptions.Gorgonia, runs as a Gorgonia
// graph on a TapeMachine. All graphs of one network share its
// parameter tensors, so an evaluation graph always sees the latest weights;
// everything else (buffers, programmed weights) is the graph's own, so
// graphs of one network may run on different goroutines as long as none
// changes the weights meanwhile. A Graph itself is used by one goroutine at
// a time.
type Graph struct {
	Net   *Network
	Batch int
	Exec  *layers.Exec

	own     analogmac.Device // the device of GraphOptions.On
	run     *layers.Runner   // nil: the Gorgonia graph runs
	g       *G.ExprGraph
	vm      G.VM
	x, t    *tensor.Dense // input (batch x inputs, 0..31) and one-hot targets
	xs, ts  []float32     // their backings
	logits  G.Value
	loss    G.Value
	grads   []G.Value
	params  []*layers.Param
	gradBuf [][]float32
}

// GraphOptions say what a graph computes and where.
type GraphOptions struct {
	Batch int              // samples per run
	Train bool             // also compute the loss and its gradients
	On    analogmac.Device // where the analog products run; nil: float mode
	// Gorgonia runs the network as a Gorgonia graph even where a
	// layers.Runner could run it: the same results, more slowly (tests
	// compare the two).
	Gorgonia bool
}

// EvalBatch is the batch of evaluation graphs: large batches amortise the
// per-run costs. It is part of what an evaluation's numbers are: the noise
// keys are drawn run by run, so every evaluation that must reproduce
// another's (a study's trials, an export's recorded accuracy) uses it.
const EvalBatch = 500

// NewEvalGraph compiles n for evaluating samples on d: EvalBatch samples
// per run, or samples when fewer.
func (n *Network) NewEvalGraph(samples int, d analogmac.Device) (*Graph, error) {
	return n.NewGraph(GraphOptions{Batch: min(EvalBatch, samples), On: d})
}

// NewGraph compiles n for o.Batch samples per run on o.On; with o.Train,
// the graph also computes gradients. Close the graph to free what it
// programmed on the device.
func (n *Network) NewGraph(o GraphOptions) (*Graph, error) {
	n.graphs.Lock()
	defer n.graphs.Unlock()
	batch, train := o.Batch, o.Train
	if batch < 1 || batch > analogmac.MaxBatch {
		return nil, fmt.Errorf("models: batch %d: want 1..%d", batch, analogmac.MaxBatch)
	}
	gr := &Graph{Net: n, Batch: batch, Exec: layers.NewExec(o.On, n.GainPerSend), own: o.On, params: n.Params()}
	gr.x = tensor.New(tensor.WithShape(batch, n.Inputs()), tensor.Of(tensor.Float32))
	gr.t = tensor.New(tensor.WithShape(batch, n.Classes), tensor.Of(tensor.Float32))
	gr.xs, gr.ts = gr.x.Data().([]float32), gr.t.Data().([]float32)
	if !o.Gorgonia {
		run, err := layers.NewRunner(n.Layers, gr.Exec, batch, gr.xs, train, gr.ts, n.Classes, n.LogitScale)
		switch {
		case err == nil:
			gr.run = run
			if train {
				gr.gradBuf = run.Grads()
			}
			return gr, nil
		case !errors.Is(err, layers.ErrNotRunnable):
			return nil, fmt.Errorf("models: %w", err)
		}
		// Kernels the runner made hold no program yet; start afresh.
		gr.Exec = layers.NewExec(o.On, n.GainPerSend)
	}
	gr.g = G.NewGraph()
	x := G.NewMatrix(gr.g, tensor.Float32, G.WithShape(batch, n.Inputs()), G.WithName("input"), G.WithValue(gr.x))
	t := G.NewMatrix(gr.g, tensor.Float32, G.WithShape(batch, n.Classes), G.WithName("targets"), G.WithValue(gr.t))
	h := x
	var err error
	for i, l := range n.Layers {
		if h, err = l.Apply(h, gr.Exec); err != nil {
			return nil, fmt.Errorf("models: layer %d (%s): %w", i, l.Describe().Type, err)
		}
	}
	if s := h.Shape(); len(s) != 2 || s[0] != batch || s[1] != n.Classes {
		return nil, fmt.Errorf("models: network output shape %v: want (%d, %d)", s, batch, n.Classes)
	}
	// Read through G.Read: an intermediate node's value may be reused by
	// later ops (gorgonia#569).
	G.Read(h, &gr.logits)
	if train {
		loss, err := layers.CrossEntropy(h, t, n.LogitScale)
		if err != nil {
			return nil, err
		}
		G.Read(loss, &gr.loss)
		wrt := make(G.Nodes, len(gr.params))
		for i, p := range gr.params {
			wrt[i] = gr.g.ByName(p.Name)[0]
		}
		gs, err := G.Grad(loss, wrt...)
		if err != nil {
			return nil, fmt.Errorf("models: gradients: %w", err)
		}
		gr.grads = make([]G.Value, len(gs))
		for i, gn := range gs {
			G.Read(gn, &gr.grads[i])
		}
		gr.gradBuf = make([][]float32, len(gs))
	}
	gr.vm = G.NewTapeMachine(gr.g)
	return gr, nil
}

// Close releases the graph's machine and its programs on the device.
func (gr *Graph) Close() error {
	if gr.vm == nil {
		return gr.Exec.Close()
	}
	err := errors.Join(gr.Exec.Close(), gr.vm.Close())
	// Gorgonia's machine has a finalizer and the graph's reads point back
	// into gr: a cycle through a finalizer is never collected, so break it.
	gr.vm, gr.g, gr.logits, gr.loss, gr.grads = nil, nil, nil, nil, nil
	return err
}

// Input returns the input buffer (batch x inputs) to fill before Run.
func (gr *Graph) Input() []float32 { return gr.xs }

// SetLabels fills the one-hot targets from labels (len Batch).
func (gr *Graph) SetLabels(labels []uint8) error {
	t := gr.ts
	clear(t)
	if len(labels) != gr.Batch {
		return fmt.Errorf("models: %d labels for batch %d", len(labels), gr.Batch)
	}
	for i, l := range labels {
		if int(l) >= gr.Net.Classes {
			return fmt.Errorf("models: label %d of sample %d: want 0..%d", l, i, gr.Net.Classes-1)
		}
		t[i*gr.Net.Classes+int(l)] = 1
	}
	return nil
}

// RunOn executes the graph once on device d instead of the graph's own:
// the device is an argument of this run only (a training loop that moves
// among several chips, batch by batch, passes each batch's chip). Weights
// are programmed onto d as needed; d must be a device when the graph is
// (not float mode), and nil only when the graph is in float mode.
func (gr *Graph) RunOn(ctx context.Context, d analogmac.Device, keys *analogmac.NoiseKeys) error {
	if (d == nil) != (gr.own == nil) {
		return fmt.Errorf("models: RunOn: a graph compiled for %s cannot run on %v", gr.Exec, d)
	}
	gr.Exec.Device = d
	defer func() { gr.Exec.Device = gr.own }()
	return gr.Run(ctx, keys)
}

// Run executes the graph once on the current input (and labels). Each
// product on a device draws its noise key from keys, in the order the
// products run; nil keys suit a noise-free device (see layers.Exec.Begin).
func (gr *Graph) Run(ctx context.Context, keys *analogmac.NoiseKeys) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	gr.Exec.Begin(ctx, keys)
	if gr.run != nil {
		err := gr.run.Run()
		gr.Exec.Begin(nil, nil)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	gr.vm.Reset() // required before every RunAll
	err := gr.vm.RunAll()
	opErr := gr.Exec.Err()
	gr.Exec.Begin(nil, nil)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case opErr != nil:
		return opErr // keeps the sentinels Gorgonia's wrapping hides
	}
	return err
}

// Logits returns the last run's outputs (batch x classes, LSB).
func (gr *Graph) Logits() []float32 {
	if gr.run != nil {
		return gr.run.Logits()
	}
	return gr.logits.Data().([]float32)
}

// Loss returns the last run's mean loss (training graphs only).
func (gr *Graph) Loss() float64 {
	if gr.run != nil {
		return gr.run.Loss()
	}
	switch v := gr.loss.(type) {
	case *G.F32:
		return float64(*v)
	case tensor.Tensor:
		return float64(v.Data().(float32))
	}
	return 0
}

// Grads returns the last run's gradients, in Params order.
func (gr *Graph) Grads() [][]float32 {
	if gr.run != nil {
		return gr.gradBuf
	}
	for i, v := range gr.grads {
		gr.gradBuf[i] = v.Data().([]float32)
	}
	return gr.gradBuf
}

// Params returns the parameters the gradients refer to.
func (gr *Graph) Params() []*layers.Param { return gr.params }

// Predict writes the argmax class of each sample of the last run into dst.
func (gr *Graph) Predict(dst []uint8) {
	z := gr.Logits()
	c := gr.Net.Classes
	for i := range dst {
		row := z[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		dst[i] = uint8(best)
	}
}
