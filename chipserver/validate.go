package chipserver

import (
	"fmt"
	"unsafe"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/internal/wirecodec"
)

// The checks of every request field. They run before anything is queued or
// allocated in proportion to a request's numbers: a field out of range is
// refused with INVALID_ARGUMENT naming it, exactly as analogmac.Check and
// analogmac.CheckRun would refuse it (they run too, on what these checks
// let through), never clipped. The fuzz tests feed them arbitrary bytes.

// maxClientName bounds OpenSessionRequest.client.
const maxClientName = 200

// int8s views b as int8 values without copying.
func int8s(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// checkWeights reports the first weight outside -WeightMax..WeightMax,
// named as the matrix element it is.
func checkWeights(field string, w []int8, cols int) error {
	for i, v := range w {
		if v > analogmac.WeightMax || v < -analogmac.WeightMax {
			return invalid(fmt.Sprintf("%s[%d][%d]", field, i/cols, i%cols), "%d: want -%d..%d", v, analogmac.WeightMax, analogmac.WeightMax)
		}
	}
	return nil
}

// programMatrix validates a ProgramRequest against the server's limits and
// returns the matrix it asks for; its Weights alias req.Weights.
func (s *Server) programMatrix(req *chipv1.ProgramRequest) (analogmac.Matrix, error) {
	var m analogmac.Matrix
	switch {
	case req.Program == 0:
		return m, invalid("program", "0: want the client's id of this program, 1 or more")
	case req.Rows < 1 || req.Rows > analogmac.MaxRows:
		return m, invalid("rows", "%d: want 1..%d", req.Rows, analogmac.MaxRows)
	case req.Cols < 1 || req.Cols > analogmac.MaxCols:
		return m, invalid("cols", "%d: want 1..%d", req.Cols, analogmac.MaxCols)
	case req.Sends < 1 || req.Sends > analogmac.MaxSends:
		return m, invalid("sends", "%d: want 1..%d", req.Sends, analogmac.MaxSends)
	}
	n := uint64(req.Rows) * uint64(req.Cols)
	if uint64(len(req.Weights)) != n {
		return m, invalid("weights", "hold %d values, rows %d x cols %d needs %d", len(req.Weights), req.Rows, req.Cols, n)
	}
	pl := req.GetPlacement()
	if pl.GetRow() >= analogmac.BlockRows {
		return m, invalid("placement.row", "%d: want 0..%d", pl.GetRow(), analogmac.BlockRows-1)
	}
	if pl.GetColumn() >= analogmac.ArrayCols {
		return m, invalid("placement.column", "%d: want 0..%d", pl.GetColumn(), analogmac.ArrayCols-1)
	}
	m = analogmac.Matrix{
		Rows: int(req.Rows), Cols: int(req.Cols), Sends: int(req.Sends), Weights: int8s(req.Weights),
		Placement: analogmac.Placement{Row: int(pl.GetRow()), Column: int(pl.GetColumn())},
	}
	if err := checkWeights("weights", m.Weights, m.Cols); err != nil {
		return m, err
	}
	// Whatever is left (the tiles fitting the array) is analogmac's.
	if err := analogmac.Check(m); err != nil {
		return m, toStatus(err)
	}
	return m, nil
}

// change is one weight an update changes.
type change struct {
	index int
	value int8
}

// updateChanges validates an UpdateRequest for a program of the given
// shape and returns either all the new weights (aliasing the request) or
// the changes to apply.
func updateChanges(req *chipv1.UpdateRequest, rows, cols int) (all []int8, changes []change, err error) {
	if req.Version == req.BaseVersion && req.GetChanges() != nil {
		return nil, nil, invalid("version", "%d equals base_version: an update makes a new version", req.Version)
	}
	n := rows * cols
	switch w := req.Weights.(type) {
	case *chipv1.UpdateRequest_All:
		if len(w.All) != n {
			return nil, nil, invalid("all", "hold %d values, the program's %d x %d needs %d", len(w.All), rows, cols, n)
		}
		all = int8s(w.All)
		if err := checkWeights("all", all, cols); err != nil {
			return nil, nil, err
		}
		return all, nil, nil
	case *chipv1.UpdateRequest_Changes:
		c := w.Changes
		if len(c.Gaps) != len(c.Values) {
			return nil, nil, invalid("changes", "%d gaps and %d values: want one value per gap", len(c.Gaps), len(c.Values))
		}
		if len(c.Gaps) > n {
			return nil, nil, invalid("changes.gaps", "%d changes to a matrix of %d weights", len(c.Gaps), n)
		}
		changes = make([]change, len(c.Gaps))
		idx := -1
		for i, g := range c.Gaps {
			// idx < n <= MaxRows*MaxCols, so this cannot overflow.
			next := uint64(idx+1) + uint64(g)
			if next >= uint64(n) {
				return nil, nil, invalid(fmt.Sprintf("changes.gaps[%d]", i), "%d: index %d is beyond the program's %d weights", g, next, n)
			}
			idx = int(next)
			v := int8(c.Values[i])
			if v > analogmac.WeightMax || v < -analogmac.WeightMax {
				return nil, nil, invalid(fmt.Sprintf("changes.values[%d]", i), "%d (weights[%d][%d]): want -%d..%d", v, idx/cols, idx%cols, analogmac.WeightMax, analogmac.WeightMax)
			}
			changes[i] = change{idx, v}
		}
		return nil, changes, nil
	}
	return nil, nil, invalid("weights", "missing: set all or changes")
}

// runArgs validates a RunRequest for a program of the given shape and
// returns its inputs: aliasing the request, or decoded from its sparse form
// into a buffer that wirecodec.Release(req) gives back.
func (s *Server) runArgs(req *chipv1.RunRequest, rows, cols int) (x []uint8, err error) {
	if req.Batch < 1 || req.Batch > analogmac.MaxBatch {
		return nil, invalid("batch", "%d: want 1..%d", req.Batch, analogmac.MaxBatch)
	}
	batch := int(req.Batch)
	n := batch * rows
	x = req.Inputs
	if len(req.SparseInputs) > 0 {
		if len(req.Inputs) > 0 {
			return nil, invalid("sparse_inputs", "sent with inputs: send one of them")
		}
		// The plain inputs must fit a message, as they would have to
		// without the sparse form; and the form's length must be
		// possible for n inputs before anything is allocated.
		if n > s.maxOutput() {
			return nil, invalid("batch", "%d: its %d x %d inputs exceed the server's message limit of %d bytes: send smaller batches", batch, batch, rows, s.cfg.MaxMessageBytes)
		}
		blocks := (n + 63) / 64
		if l := len(req.SparseInputs); l < 8*blocks || l > wirecodec.SparseBound(n) {
			return nil, invalid("sparse_inputs", "%d bytes cannot hold batch %d x %d rows = %d inputs: want %d..%d", l, batch, rows, n, 8*blocks, wirecodec.SparseBound(n))
		}
		x = wirecodec.Scratch(req, n)
		if err := wirecodec.DecodeSparse(x, req.SparseInputs); err != nil {
			return nil, invalid("sparse_inputs", "%v", err)
		}
	} else if len(req.Inputs) != n {
		return nil, invalid("inputs", "hold %d values, batch %d x %d rows needs %d", len(req.Inputs), batch, rows, n)
	}
	if out := batch * cols; out > s.maxOutput() {
		return nil, invalid("batch", "%d: its %d x %d outputs exceed the server's message limit of %d bytes: send smaller batches", batch, batch, cols, s.cfg.MaxMessageBytes)
	}
	// CheckRun names an input out of range as inputs[b][r]. The outputs
	// are the caller's to make: none here (0 columns).
	if err := analogmac.CheckRun(nil, x, batch, rows, 0); err != nil {
		return nil, toStatus(err)
	}
	return x, nil
}

// chainArgs validates the chained runs of req (RunRequest.then) and
// appends them to steps, which holds req's own run: each program, batch,
// update and version, how its inputs follow from the run before, and that
// the outputs of all the runs fit one message. Fields are named
// then[i].<field>. The runs' inputs and outputs are the caller's to make.
func (s *Server) chainArgs(ss *session, req *chipv1.RunRequest, steps []runStep) ([]runStep, error) {
	if len(req.Then) == 0 {
		return steps, nil
	}
	if len(req.Then) >= MaxChain {
		return nil, invalid("then", "%d chained runs: at most %d", len(req.Then), MaxChain-1)
	}
	total := steps[0].outputs()
	for i, c := range req.Then {
		f := fmt.Sprintf("then[%d].", i)
		prev := steps[len(steps)-1].outputs()
		p, err := ss.lookup(c.Program)
		if err != nil {
			return nil, err
		}
		rows, cols := p.m.Rows, p.m.Cols
		switch {
		case c.Batch < 1 || c.Batch > analogmac.MaxBatch:
			return nil, invalid(f+"batch", "%d: want 1..%d", c.Batch, analogmac.MaxBatch)
		case int(c.Batch)*rows != prev:
			return nil, invalid(f+"batch", "%d x %d rows = %d inputs, but the run before gives %d outputs", c.Batch, rows, int(c.Batch)*rows, prev)
		case c.ReluShift > analogmac.MaxShift:
			return nil, invalid(f+"relu_shift", "%d: want 0..%d", c.ReluShift, analogmac.MaxShift)
		}
		n := int(c.Batch) * cols
		if total += n + 8; total > s.maxOutput() { // 8: room for each field's tag and length
			return nil, invalid(f+"batch", "%d: the chain's outputs up to this run, %d bytes, exceed the server's message limit of %d bytes: send shorter chains or smaller batches", c.Batch, total, s.cfg.MaxMessageBytes)
		}
		st := runStep{p: p, program: c.Program, version: c.Version, batch: int(c.Batch), key: c.NoiseKey, update: c.Update, shift: int(c.ReluShift)}
		if err := st.checkUpdate(f); err != nil {
			return nil, err
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// maxOutput is the largest RunResponse.outputs that fits a message, with
// room for the framing.
func (s *Server) maxOutput() int { return s.cfg.MaxMessageBytes - 64 }
