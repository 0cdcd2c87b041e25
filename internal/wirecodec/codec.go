package wirecodec

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"

	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Name is the codec's name, and so the calls' content-subtype
// (application/grpc+proto): the standard protocol buffers encoding.
const Name = "proto"

// Pooled sizes: messages of at least minPooled bytes are marshalled into
// (and received multi-frame messages copied into) buffers of a power-of-two
// size from 2^minShift to 2^maxShift; larger ones are allocated.
const (
	minPooled = 1 << 10 // grpc's own threshold (mem.IsBelowBufferPoolingThreshold)
	minShift  = 12
	maxShift  = 27
)

// Codec implements encoding.CodecV2. Use it on both sides with
// grpc.ForceCodecV2 and grpc.ForceServerCodecV2.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// Name implements encoding.CodecV2.
func (Codec) Name() string { return Name }

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("wirecodec: cannot marshal %T: not a proto.Message", v)
	}
	size := proto.Size(m)
	// UseCachedSize: the sizes proto.Size just computed (grpc's codec does
	// the same).
	opts := proto.MarshalOptions{UseCachedSize: true}
	if size < minPooled || size > 1<<maxShift {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := pool.Get(size)
	out, err := opts.MarshalAppend((*buf)[:0], m)
	if err != nil {
		pool.Put(buf)
		return nil, err
	}
	if len(out) != size || &out[0] != &(*buf)[0] {
		// Not written in place, or not exactly size bytes (the message
		// changed under us): send proto's slice, never the pool's bytes.
		pool.Put(buf)
		return mem.BufferSlice{mem.SliceBuffer(out)}, nil
	}
	*buf = out
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal implements encoding.CodecV2.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("wirecodec: cannot unmarshal into %T: not a proto.Message", v)
	}
	n := data.Len()
	if r, ok := m.(*chipv1.RunRequest); ok && n > 0 && n <= 1<<maxShift {
		// Even from one frame: the frame's buffer is grpc's, and the
		// inputs must outlive this call.
		buf := pool.Get(n)
		data.CopyTo(*buf) // all n bytes: no stale byte is read
		return unmarshalRun(buf, r)
	}
	switch {
	case len(data) == 1:
		return proto.Unmarshal(data[0].ReadOnlyData(), m)
	case n < minPooled || n > 1<<maxShift:
		return proto.Unmarshal(data.Materialize(), m)
	default:
		buf := pool.Get(n)
		data.CopyTo(*buf) // all n bytes: no stale byte is read
		err := proto.Unmarshal(*buf, m)
		pool.Put(buf) // proto kept nothing of it
		return err
	}
}

// RunInto returns the codec for one Run call of a client: Codec, except
// that it decodes the response's outputs straight into dst when they have
// its length (and into a copy otherwise), instead of into a new slice that
// the caller then copies: no allocation and no fresh pages per call. Pass
// it with grpc.ForceCodecV2 as a call option; dst is written only while
// the call is in progress.
func RunInto(dst []byte) encoding.CodecV2 { return runInto{dst: dst} }

type runInto struct {
	Codec
	dst []byte
}

// StreamInto is RunInto for a client's stream of runs (RunStream): Set
// names the destination of the next response before it is received. One
// run at a time: Set and the stream's RecvMsg are called by the goroutine
// that makes the run, which is the goroutine that decodes (grpc decodes a
// stream's message in RecvMsg). Pass it with grpc.ForceCodecV2 when the
// stream is opened.
type StreamInto struct {
	Codec
	dst []byte
}

// Set makes the next response's outputs decode into dst (nil: into a new
// slice).
func (c *StreamInto) Set(dst []byte) { c.dst = dst }

// Unmarshal implements encoding.CodecV2.
func (c *StreamInto) Unmarshal(data mem.BufferSlice, v any) error {
	return runInto{dst: c.dst}.Unmarshal(data, v)
}

// runOutputs is RunResponse.outputs' field number.
const runOutputs = 1

func (c runInto) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*chipv1.RunResponse)
	n := data.Len()
	if !ok || n == 0 || n > 1<<maxShift {
		return c.Codec.Unmarshal(data, v)
	}
	var b []byte
	var buf *[]byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData()
	} else {
		buf = pool.Get(n)
		b = *buf
		data.CopyTo(b)      // all n bytes: no stale byte is read
		defer pool.Put(buf) // nothing below keeps b
	}
	rest, out, ok := cutBytesField(b, runOutputs)
	if !ok {
		return proto.Unmarshal(b, r)
	}
	if err := proto.Unmarshal(rest, r); err != nil {
		return err
	}
	switch {
	case len(out) == 0:
		// proto leaves empty bytes nil
	case len(out) == len(c.dst):
		copy(c.dst, out)
		r.Outputs = c.dst
	default:
		r.Outputs = slices.Clone(out)
	}
	return nil
}

// held maps a RunRequest whose Inputs or SparseInputs alias a buffer of
// the pool, or which was given a Scratch buffer, to those buffers, until
// Release.
var held sync.Map // *chipv1.RunRequest -> *holding

type holding struct {
	msg, scratch *[]byte // either may be nil
}

// unmarshalRun decodes a RunRequest held in *buf, a buffer of the pool, as
// proto.Unmarshal would, except that Inputs and SparseInputs alias *buf
// instead of copies: the server's run inputs (250 KB for the MNIST
// network's convolution) are then neither copied again nor allocated, and
// fresh pages are not faulted in for every call. The buffer stays taken
// until Release(r).
//
// The message without its inputs is decoded by proto.Unmarshal: the bytes
// with every record of fields 5 and 8 (inputs and sparse_inputs, wire type
// bytes) left out. proto3 keeps the last value of a repeated scalar field,
// so each is the last record's bytes. Anything unusual at the top level (a
// group, a malformed record) is left to proto.Unmarshal with its copy.
func unmarshalRun(buf *[]byte, r *chipv1.RunRequest) error {
	b := *buf
	rest, in, sparse, ok := cutBytesFields(b, runInputs, runSparseInputs)
	if !ok {
		err := proto.Unmarshal(b, r)
		pool.Put(buf)
		return err
	}
	if err := proto.Unmarshal(rest, r); err != nil {
		pool.Put(buf)
		return err
	}
	if len(in) == 0 && len(sparse) == 0 {
		pool.Put(buf)
		return nil // proto leaves empty bytes nil
	}
	if len(in) > 0 {
		r.Inputs = in[:len(in):len(in)]
	}
	if len(sparse) > 0 {
		r.SparseInputs = sparse[:len(sparse):len(sparse)]
	}
	held.Store(r, &holding{msg: buf})
	return nil
}

// RunRequest.inputs' and sparse_inputs' field numbers.
const (
	runInputs       = 5
	runSparseInputs = 8
)

// cutBytesFields returns b without the records of fields a and c of wire
// type bytes, and the value of the last record of each (nil if none). ok
// is false when b holds a group or a record it cannot parse.
func cutBytesFields(b []byte, a, c protowire.Number) (rest, va, vc []byte, ok bool) {
	rest = make([]byte, 0, 64)
	for len(b) > 0 {
		n, t, tl := protowire.ConsumeTag(b)
		if tl < 0 || n > protowire.MaxValidNumber {
			return nil, nil, nil, false
		}
		var vl int
		switch t {
		case protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType:
			vl = protowire.ConsumeFieldValue(n, t, b[tl:])
		default:
			return nil, nil, nil, false
		}
		if vl < 0 {
			return nil, nil, nil, false
		}
		switch {
		case n == a && t == protowire.BytesType:
			va, _ = protowire.ConsumeBytes(b[tl:])
		case n == c && t == protowire.BytesType:
			vc, _ = protowire.ConsumeBytes(b[tl:])
		default:
			rest = append(rest, b[:tl+vl]...)
		}
		b = b[tl+vl:]
	}
	return rest, va, vc, true
}

// cutBytesField is cutBytesFields for one field.
func cutBytesField(b []byte, num protowire.Number) (rest, val []byte, ok bool) {
	rest, val, _, ok = cutBytesFields(b, num, 0)
	return rest, val, ok
}

// Scratch returns n bytes (n >= 1) for the decoded inputs of r, from the
// pool (allocated beyond its largest class), given back by Release(r). Its
// bytes are whatever they were: the caller writes all n before reading
// any, and reads none when it could not (DecodeSparse failed). At most
// one per request: a second call returns a fresh slice the pool never
// sees.
func Scratch(r *chipv1.RunRequest, n int) []byte {
	if n > 1<<maxShift {
		return make([]byte, n)
	}
	buf := pool.Get(n)
	h := &holding{scratch: buf}
	if v, loaded := held.LoadOrStore(r, h); loaded {
		old := v.(*holding)
		if old.scratch != nil {
			pool.Put(buf)
			return make([]byte, n)
		}
		old.scratch = buf
	}
	return *buf
}

// Release gives back the buffers that r's Inputs and SparseInputs alias
// and its Scratch buffer, if the codec decoded r into one or gave it one;
// r's inputs and the scratch must not be used after. Releasing a request
// the codec did not decode, or one already released, does nothing.
func Release(r *chipv1.RunRequest) {
	v, ok := held.LoadAndDelete(r)
	if !ok {
		return
	}
	h := v.(*holding)
	if h.msg != nil {
		r.Inputs, r.SparseInputs = nil, nil
		pool.Put(h.msg)
	}
	if h.scratch != nil {
		pool.Put(h.scratch)
	}
}

// Buffer returns n bytes (n >= 1) from the codec's pool, for a message's
// contents that the caller makes (the server's run outputs): whatever
// they were, so the caller writes all n before anything reads them, and
// sends none it could not write. PutBuffer gives them back once nothing
// reads them, for a response after the stream's SendMsg has returned
// (which marshals it).
func Buffer(n int) *[]byte {
	if n > 1<<maxShift {
		b := make([]byte, n)
		return &b
	}
	return pool.Get(n)
}

// PutBuffer gives back a buffer from Buffer.
func PutBuffer(b *[]byte) { pool.Put(b) }

// pool is a mem.BufferPool of power-of-two buffers that Get does not clear.
// Only this package takes buffers from it and hands them on, and only after
// writing every byte up to the length it hands on (see the package
// documentation).
var pool = newDirtyPool()

type dirtyPool struct {
	classes [maxShift + 1]sync.Pool
}

func newDirtyPool() *dirtyPool { return &dirtyPool{} }

// class is the shift of the smallest class holding n bytes.
func class(n int) int { return max(minShift, bits.Len(uint(n-1))) }

// Get implements mem.BufferPool for 1 <= n <= 2^maxShift. Its bytes are
// whatever they were: the caller writes all n of them before reading.
func (p *dirtyPool) Get(n int) *[]byte {
	c := class(n)
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put implements mem.BufferPool; buffers that are not of a class size are
// dropped.
func (p *dirtyPool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minShift || c > 1<<maxShift || c&(c-1) != 0 {
		return
	}
	*b = (*b)[:0]
	p.classes[bits.Len(uint(c))-1].Put(b)
}
