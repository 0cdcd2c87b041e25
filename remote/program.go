package remote

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
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

// inputBufs are buffers for what the client makes of a run's inputs (their
// sparse form, a chain's inputs converted between two requests), kept
// across garbage collections (a sync.Pool drops them, and a new buffer of
// 280 KB costs fresh pages): as many as were in use at once, up to the
// channel's capacity.
var inputBufs = make(chan *[]byte, 8)

func getInputBuf() *[]byte {
	select {
	case b := <-inputBufs:
		return b
	default:
		return new([]byte)
	}
}

func putInputBuf(b *[]byte) {
	select {
	case inputBufs <- b:
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
	one, progs := [1]analogmac.Link{{Program: p, Batch: batch, Noise: noise, Out: dst}}, [1]*program{p}
	return p.d.runChain(ctx, x, one[:], progs[:])
}

// RunChain implements analogmac.Chainer. With a server that lists the
// feature "chain", the runs go as one request (RunRequest.then), at most
// the server's max_chain at a time; otherwise one after another, with the
// converting ReLUs between them on this side. Either way every run carries
// its noise key and its program's pending update, and the outputs are
// those of separate runs.
func (d *Device) RunChain(ctx context.Context, x []uint8, links []analogmac.Link) error {
	if err := analogmac.CheckChain(x, links); err != nil {
		return err
	}
	progs := make([]*program, len(links))
	for i, l := range links {
		p, ok := l.Program.(*program)
		if !ok || p.d != d {
			return &analogmac.ArgError{Field: fmt.Sprintf("links[%d].program", i), Msg: "not a program of this device"}
		}
		progs[i] = p
	}
	var conv *[]byte // inputs converted here, between two requests
	defer func() {
		if conv != nil {
			putInputBuf(conv)
		}
	}()
	for {
		n := 1
		if d.useChain.Load() {
			n = max(1, min(len(links), int(d.maxChain.Load())))
		}
		err := d.runChain(ctx, x, links[:n], progs[:n])
		if err == errNoChain {
			continue // useChain is false now: one run at a time
		}
		if err != nil || n == len(links) {
			return err
		}
		if conv == nil {
			conv = getInputBuf()
		}
		y := links[n-1].Out
		*conv = slices.Grow((*conv)[:0], len(y))[:len(y)]
		x = *conv
		analogmac.ConvertReLU(x, y, links[n].Shift)
		links, progs = links[n:], progs[n:]
	}
}

// errNoChain is runChain's answer when the server ran only the first run
// of a chain: it ignored RunRequest.then (a server that restarted as an
// implementation without the feature). runChain has turned chains off.
var errNoChain = errors.New("remote: the server does not run chains")

// runChain runs links, a chain whose shapes were checked, on progs (their
// programs) in one request: the first link on x, every later one as
// RunRequest.then. It programs what the server lacks, sends the pending
// updates with the runs, and repeats the request (same keys) after the
// server lost a program.
func (d *Device) runChain(ctx context.Context, x []uint8, links []analogmac.Link, progs []*program) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.closed.Load() {
		return d.closedErr("run")
	}
	outs := 0
	for _, l := range links {
		outs += len(l.Out)
	}
	if err := d.checkSize("inputs", len(x)); err != nil {
		return err
	}
	if err := d.checkSize("outputs", outs); err != nil {
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
			enc = getInputBuf()
			*enc = wirecodec.AppendSparse((*enc)[:0], x)
		}
		if len(*enc) >= len(x) {
			return x, nil
		}
		return nil, *enc
	}
	defer func() {
		if enc != nil {
			putInputBuf(enc)
		}
	}()
	// locked[i]: progs[i] stays locked until the answer, because the
	// request carries its update; gens[i]: the session generation it was
	// programmed in when the request was made.
	locked, gens := make([]bool, len(progs)), make([]uint64, len(progs))
	unlockAll := func() {
		for i, p := range progs {
			if locked[i] {
				p.mu.unlock()
				locked[i] = false
			}
		}
	}
	for tries := 0; ; tries++ {
		// Lock in the order of the programs' ids, so that two chains over
		// the same programs cannot wait for each other.
		for _, i := range lockOrder(progs) {
			p := progs[i]
			if err := p.mu.lock(ctx); err != nil {
				unlockAll()
				return err
			}
			locked[i] = true
			if p.closed {
				unlockAll()
				return d.closedErr("run")
			}
			if err := p.ensure(ctx); err != nil {
				unlockAll()
				return d.err(err)
			}
			gens[i] = p.gen
		}
		inputs, sparse := inputsFor()
		req := &chipv1.RunRequest{Session: d.sessionID(), Batch: uint32(links[0].Batch), Inputs: inputs, SparseInputs: sparse, NoiseKey: links[0].Noise}
		if len(links) > 1 {
			req.Then = make([]*chipv1.ChainedRun, len(links)-1)
		}
		for i, p := range progs {
			u := p.pending()
			version := p.version
			if u == nil {
				// Nothing to change on the server: let other runs go.
				p.mu.unlock()
				locked[i] = false
			} else {
				version = u.Version
				d.updates.Add(1)
				d.weightMsgs.Add(int64(proto.Size(u)))
				if u.GetChanges() != nil {
					d.sparse.Add(1)
				}
			}
			if i == 0 {
				req.Program, req.Version, req.Update = p.id, version, u
				continue
			}
			l := links[i]
			req.Then[i-1] = &chipv1.ChainedRun{Program: p.id, Version: version, Batch: uint32(l.Batch), NoiseKey: l.Noise, Update: u, ReluShift: uint32(l.Shift)}
		}
		var r *chipv1.RunResponse
		err := d.do(ctx, func(c context.Context) (err error) {
			r, err = d.run(c, req, bytesOf(links[0].Out))
			return err
		})
		code := status.Code(err)
		// A server that ignored `then` ran the first run only.
		chained := code == codes.OK && len(r.ThenOutputs) == len(links)-1
		for i, p := range progs {
			if !locked[i] {
				continue
			}
			if chained || (code == codes.OK && i == 0) {
				p.sent = append(p.sent[:0], p.m.Weights...)
				p.sentVer = p.version
			} else {
				p.gen = 0 // the server's weights are unknown: program anew
			}
			p.mu.unlock()
			locked[i] = false
		}
		switch code {
		case codes.OK:
			if !chained && len(links) == 1 {
				return fmt.Errorf("remote: %s answered %d chained outputs to a run without a chain", d.o.Addr, len(r.ThenOutputs))
			}
			if !chained {
				d.useChain.Store(false)
				d.log.Info("the server does not run chains after all: one run at a time")
				return errNoChain
			}
			for i, l := range links {
				got := r.Outputs
				if i > 0 {
					got = r.ThenOutputs[i-1]
				}
				if len(got) != len(l.Out) {
					return fmt.Errorf("remote: %s answered %d outputs for run %d of batch %d x %d columns", d.o.Addr, len(got), i, l.Batch, len(l.Out)/l.Batch)
				}
				if out := bytesOf(l.Out); len(out) > 0 && &got[0] != &out[0] {
					copy(out, got) // the codec decodes the first run's into its Out
				}
			}
			d.runs.Add(int64(len(links)))
			if len(links) > 1 {
				d.chains.Add(1)
			}
			if sparse != nil {
				d.sparseRuns.Add(1)
			}
			return nil
		case codes.NotFound, codes.FailedPrecondition:
			if tries >= maxRecoveries {
				return d.err(err)
			}
			// The server lost a program (a restart) or holds other
			// weights: program them again and repeat the request, same
			// keys.
			for i, p := range progs {
				if err := p.mu.lock(ctx); err != nil {
					return err
				}
				if p.gen == gens[i] {
					p.gen = 0
				}
				p.mu.unlock()
			}
			continue
		}
		return d.err(err)
	}
}

// lockOrder returns the indices of progs in the order of their ids.
func lockOrder(progs []*program) []int {
	if len(progs) == 1 {
		return onlyFirst
	}
	order := make([]int, len(progs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(progs[a].id, progs[b].id) })
	return order
}

// onlyFirst is lockOrder's answer for one program; never written.
var onlyFirst = []int{0}

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
