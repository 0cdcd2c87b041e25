package remote

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// framing is room left in a message for everything but its bytes fields.
const framing = 256

// minSparse is the fewest inputs sent in sparse form: below, the bytes
// saved are too few to matter.
const minSparse = 256

// sparseBufs are buffers for the sparse form of a run's inputs, kept
// across garbage collections (a sync.Pool drops them, and a new buffer of
// 280 KB costs fresh pages): as many as runs were in flight at once, up to
// the channel's capacity.
var sparseBufs = make(chan *[]byte, 8)

func getSparseBuf() *[]byte {
	select {
	case b := <-sparseBufs:
		return b
	default:
		return new([]byte)
	}
}

func putSparseBuf(b *[]byte) {
	select {
	case sparseBufs <- b:
	default:
	}
}

// program is a weight matrix programmed on the server. It keeps its
// current weights, so that it can program them again when the server has
// lost them (a restart), and the weights the server holds, so that an
// update sends only what changed. An update is sent with the next run,
// one round trip for both. mu guards that state; a run holds it while it
// sends an update, other runs only while they read the state.
type program struct {
	d  *Device
	id uint64

	shape analogmac.Matrix // without weights: what Matrix returns

	mu      chanMutex
	m       analogmac.Matrix // Weights: the current weights
	version uint64           // of m.Weights
	sent    []int8           // the weights the server holds, at sentVer
	sentVer uint64
	gen     uint64 // the session generation that holds sent; 0: none
	closed  bool
}

// chanMutex is a mutex that a context can give up waiting for.
type chanMutex chan struct{}

func (m chanMutex) lock(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (m chanMutex) unlock() { <-m }

func bytesOf(w []int8) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w))
}

func (d *Device) checkSize(field string, n int) error {
	if n+framing > d.maxMsg {
		return &analogmac.ArgError{Field: field, Msg: fmt.Sprintf("%d bytes exceed the server's message limit of %d bytes", n, d.maxMsg)}
	}
	return nil
}

// Program implements analogmac.Device: it checks m, sends it to the
// server and returns a Program that also implements analogmac.Updater.
func (d *Device) Program(ctx context.Context, m analogmac.Matrix) (analogmac.Program, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.closed.Load() {
		return nil, d.closedErr("program")
	}
	if err := analogmac.Check(m); err != nil {
		return nil, err
	}
	if err := d.checkSize("weights", len(m.Weights)); err != nil {
		return nil, err
	}
	m.Weights = slices.Clone(m.Weights)
	shape := m
	shape.Weights = nil
	p := &program{d: d, id: d.nextID.Add(1), shape: shape, m: m, version: 1, mu: make(chanMutex, 1)}
	if err := p.mu.lock(ctx); err != nil {
		return nil, err
	}
	defer p.mu.unlock()
	if err := p.ensure(ctx); err != nil {
		return nil, d.err(err)
	}
	return p, nil
}

// ensure makes sure the server holds p in the current session, sending it
// (again) when not. p.mu is held.
func (p *program) ensure(ctx context.Context) error {
	d := p.d
	for tries := 0; ; tries++ {
		sess, gen, err := d.session(ctx)
		if err != nil {
			return err
		}
		if p.gen == gen {
			return nil
		}
		m := p.m
		req := &chipv1.ProgramRequest{
			Session: sess, Program: p.id, Rows: uint32(m.Rows), Cols: uint32(m.Cols), Sends: uint32(m.Sends),
			Placement: &chipv1.Placement{Row: uint32(m.Placement.Row), Column: uint32(m.Placement.Column)},
			Weights:   bytesOf(m.Weights), Version: p.version,
		}
		err = d.do(ctx, func(c context.Context) error {
			_, err := d.api.Program(c, req)
			return err
		})
		d.weightMsgs.Add(int64(proto.Size(req)))
		if err == nil {
			d.programs.Add(1)
			if p.gen != 0 || tries > 0 {
				d.reprograms.Add(1)
			}
			p.gen = gen
			p.sent = append(p.sent[:0], m.Weights...)
			p.sentVer = p.version
			return nil
		}
		if status.Code(err) != codes.NotFound || tries >= maxRecoveries {
			return err
		}
		d.lost(gen) // the session is gone: open another
	}
}

// Matrix implements analogmac.Program.
func (p *program) Matrix() analogmac.Matrix { return p.shape }

// Close implements analogmac.Program: it frees the program on the server,
// waiting for the server at most a few seconds.
func (p *program) Close() error {
	p.mu <- struct{}{}
	defer p.mu.unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	d := p.d
	if d.closed.Load() || p.gen == 0 {
		return nil
	}
	d.smu.Lock()
	sess, gen := d.sess, d.gen
	d.smu.Unlock()
	if sess != "" && gen == p.gen {
		ctx, cancel := context.WithTimeout(context.Background(), min(d.o.CallTimeout, 5*time.Second))
		_, _ = d.api.Free(ctx, &chipv1.FreeRequest{Session: sess, Program: p.id})
		cancel()
	}
	p.m.Weights = nil
	return nil
}

// Update implements analogmac.Updater. It checks w and keeps it; the next
// run carries the weights that changed (or all of them, when that is
// shorter) to the server, and nothing when none did.
func (p *program) Update(ctx context.Context, w []int8) error {
	d := p.d
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.closed.Load() {
		return d.closedErr("update")
	}
	m := p.Matrix()
	m.Weights = w
	// The shape was checked by Program: only the weights can be wrong, and
	// analogmac.Check names the first one that is.
	if len(w) != m.Rows*m.Cols || !weightsInRange(w) {
		if err := analogmac.Check(m); err != nil {
			return err
		}
	}
	if err := p.mu.lock(ctx); err != nil {
		return err
	}
	defer p.mu.unlock()
	if p.closed {
		return d.closedErr("update")
	}
	if !slices.Equal(p.m.Weights, w) {
		// Sent with the next run.
		copy(p.m.Weights, w)
		p.version++
	}
	return nil
}

// pending returns the update the next run carries, nil if none: the
// changes from the weights the server holds, or all weights when that is
// shorter (and always in naive mode). p.mu is held.
func (p *program) pending() *chipv1.UpdateRequest {
	naive := p.d.o.Naive
	if p.version == p.sentVer && !naive {
		return nil
	}
	if naive {
		p.version++ // a new version for every batch
	}
	u := &chipv1.UpdateRequest{BaseVersion: p.sentVer, Version: p.version}
	if ch, ok := changes(p.sent, p.m.Weights); ok && !naive {
		u.Weights = &chipv1.UpdateRequest_Changes{Changes: ch}
	} else {
		u.Weights = &chipv1.UpdateRequest_All{All: bytesOf(p.m.Weights)}
	}
	return u
}

func (d *Device) sessionID() string {
	d.smu.Lock()
	defer d.smu.Unlock()
	return d.sess
}

// changes codes the difference from old to w as Changes, and reports
// whether that is shorter than all the weights. A training step changes a
// few hundred of the 64,000 weights of the first dense layer: the loop
// skips eight equal weights at a time.
func changes(old, w []int8) (*chipv1.Changes, bool) {
	ob, wb := bytesOf(old), bytesOf(w)
	var ch chipv1.Changes
	size, last := 0, -1
	for i := 0; i < len(wb); {
		if i+8 <= len(wb) && binary.LittleEndian.Uint64(wb[i:]) == binary.LittleEndian.Uint64(ob[i:]) {
			i += 8
			continue
		}
		for end := min(i+8, len(wb)); i < end; i++ {
			if wb[i] != ob[i] {
				size += protowire.SizeVarint(uint64(i-last-1)) + 1
				if size >= len(w) {
					return nil, false
				}
				ch.Gaps = append(ch.Gaps, uint32(i-last-1))
				ch.Values = append(ch.Values, wb[i])
				last = i
			}
		}
	}
	return &ch, true
}

// Run implements analogmac.Program. The request carries the noise key, so
// a run repeated after a lost answer or a server restart is answered
// identically.
func (p *program) Run(ctx context.Context, dst []int8, x []uint8, batch int, noise uint64) error {
	d := p.d
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.closed.Load() {
		return d.closedErr("run")
	}
	m := p.Matrix()
	// The shapes here; the input values (a pass over every byte) the
	// server checks with analogmac.CheckRun and names as ArgErrors do.
	switch {
	case batch < 1 || batch > analogmac.MaxBatch:
		return &analogmac.ArgError{Field: "batch", Msg: fmt.Sprintf("%d: want 1..%d", batch, analogmac.MaxBatch)}
	case len(x) != batch*m.Rows:
		return &analogmac.ArgError{Field: "inputs", Msg: fmt.Sprintf("hold %d values, batch %d x %d rows needs %d", len(x), batch, m.Rows, batch*m.Rows)}
	case len(dst) != batch*m.Cols:
		return &analogmac.ArgError{Field: "outputs", Msg: fmt.Sprintf("hold %d values, batch %d x %d columns needs %d", len(dst), batch, m.Cols, batch*m.Cols)}
	}
	if err := d.checkSize("inputs", len(x)); err != nil {
		return err
	}
	if err := d.checkSize("outputs", len(dst)); err != nil {
		return err
	}
	// The inputs in sparse form when the server takes it and it is
	// shorter, encoded at most once for every attempt of this run; asked
	// anew before each request, as a server that restarted may not take it.
	var enc *[]byte
	inputsFor := func() (inputs, sparse []byte) {
		if !d.useSparse.Load() || len(x) < minSparse {
			return x, nil
		}
		if enc == nil {
			enc = getSparseBuf()
			*enc = wirecodec.AppendSparse((*enc)[:0], x)
		}
		if len(*enc) >= len(x) {
			return x, nil
		}
		return nil, *enc
	}
	defer func() {
		if enc != nil {
			putSparseBuf(enc)
		}
	}()
	for tries := 0; ; tries++ {
		if err := p.mu.lock(ctx); err != nil {
			return err
		}
		if p.closed {
			p.mu.unlock()
			return d.closedErr("run")
		}
		if err := p.ensure(ctx); err != nil {
			p.mu.unlock()
			return d.err(err)
		}
		gen := p.gen
		inputs, sparse := inputsFor()
		req := &chipv1.RunRequest{Session: d.sessionID(), Program: p.id, Version: p.version, Batch: uint32(batch), Inputs: inputs, SparseInputs: sparse, NoiseKey: noise}
		locked := true
		if req.Update = p.pending(); req.Update == nil {
			// Nothing to change on the server: let other runs go.
			p.mu.unlock()
			locked = false
		} else {
			req.Version = req.Update.Version
			d.updates.Add(1)
			d.weightMsgs.Add(int64(proto.Size(req.Update)))
			if req.Update.GetChanges() != nil {
				d.sparse.Add(1)
			}
		}
		var r *chipv1.RunResponse
		err := d.do(ctx, func(c context.Context) (err error) {
			r, err = d.run(c, req, bytesOf(dst))
			return err
		})
		code := status.Code(err)
		if locked {
			if code == codes.OK {
				p.sent = append(p.sent[:0], p.m.Weights...)
				p.sentVer = p.version
			} else {
				p.gen = 0 // the server's weights are unknown: program anew
			}
			p.mu.unlock()
		}
		switch code {
		case codes.OK:
			if len(r.Outputs) != len(dst) {
				return fmt.Errorf("remote: %s answered %d outputs for batch %d x %d columns", d.o.Addr, len(r.Outputs), batch, m.Cols)
			}
			if out := bytesOf(dst); len(out) > 0 && &r.Outputs[0] != &out[0] {
				copy(out, r.Outputs) // the codec decodes them into dst
			}
			d.runs.Add(1)
			if sparse != nil {
				d.sparseRuns.Add(1)
			}
			return nil
		case codes.NotFound, codes.FailedPrecondition:
			if tries >= maxRecoveries {
				return d.err(err)
			}
			// The server lost the program (a restart) or holds other
			// weights: program it again and repeat the run, same key.
			if !locked {
				if err := p.mu.lock(ctx); err != nil {
					return err
				}
				if p.gen == gen {
					p.gen = 0
				}
				p.mu.unlock()
			}
			continue
		}
		return d.err(err)
	}
}

// run makes one attempt of a run: on a stream when the server offers them,
// else (or when the server turns out not to implement them) as a Run call.
func (d *Device) run(ctx context.Context, req *chipv1.RunRequest, dst []byte) (*chipv1.RunResponse, error) {
	if d.useStream.Load() {
		r, err := d.streamRun(ctx, req, dst)
		if status.Code(err) != codes.Unimplemented {
			return r, err
		}
		d.useStream.Store(false)
		d.log.Info("the server does not implement RunStream after all: using Run")
	}
	return d.api.Run(ctx, req, grpc.ForceCodecV2(wirecodec.RunInto(dst)))
}

// weightsInRange reports whether every weight is within
// -WeightMax..WeightMax, eight at a time (an update after every training
// step checks all 64,000 weights of the first dense layer): w + WeightMax,
// as a byte, must be at most 2*WeightMax = 126.
func weightsInRange(w []int8) bool {
	const (
		lo7  = 0x7f7f7f7f7f7f7f7f
		hi   = 0x8080808080808080
		one  = 0x0101010101010101
		bias = one * analogmac.WeightMax
	)
	// The test of 127 below needs 2*WeightMax+1 = 127.
	var _ [analogmac.WeightMax - 63]struct{}
	var _ [63 - analogmac.WeightMax]struct{}
	b := bytesOf(w)
	var bad uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		a := ((x & lo7) + bias) ^ (x & hi) // each byte + WeightMax, without carries
		bad |= a | ((a & lo7) + one)       // top bit: a >= 128, or a&0x7f = 127
	}
	for _, v := range w[i:] {
		if v > analogmac.WeightMax || v < -analogmac.WeightMax {
			return false
		}
	}
	return bad&hi == 0
}
