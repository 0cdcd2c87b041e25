package wirecodec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// frames cuts b into buffers of at most size bytes, as the transport hands
// a received message to the codec (16 KiB data frames).
func frames(b []byte, size int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(size, len(b))
		s = append(s, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	return s
}

func filled(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }

func runRequest(n int, v byte) *chipv1.RunRequest {
	return &chipv1.RunRequest{Session: "s", Program: 3, Version: 9, Batch: uint32(n / 100), Inputs: filled(n, v), NoiseKey: 0xfeedface,
		Update: &chipv1.UpdateRequest{BaseVersion: 8, Version: 9, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{0, 7}, Values: []byte{1, 2}}}}}
}

// TestMarshalReusedBuffers: Marshal gives proto.Marshal's bytes, also in
// a buffer that held a longer message of other bytes before.
func TestMarshalReusedBuffers(t *testing.T) {
	for _, m := range []proto.Message{
		runRequest(250000, 0x1f), runRequest(200000, 0x01), // the same class: the second reuses the first's buffer
		runRequest(3000, 7), runRequest(2000, 9),
		&chipv1.RunResponse{Outputs: filled(50000, 0x80)}, &chipv1.RunResponse{Outputs: filled(40000, 0x7f)},
		&chipv1.DescribeRequest{}, &chipv1.FreeRequest{Session: "x", Program: 1},
	} {
		data, err := Codec{}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := proto.Marshal(m)
		if got := data.Materialize(); !bytes.Equal(got, want) {
			t.Fatalf("%T of %d bytes: Marshal differs from proto.Marshal", m, len(want))
		}
		data.Free() // back to the pool for the next message
	}
}

func TestPoolClasses(t *testing.T) {
	for _, n := range []int{1, 4095, 4096, 4097, 250000, 1 << maxShift} {
		b := pool.Get(n)
		if len(*b) != n || cap(*b) < n || cap(*b)&(cap(*b)-1) != 0 || cap(*b) < 1<<minShift {
			t.Fatalf("Get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		pool.Put(b)
	}
	odd := make([]byte, 5000)
	pool.Put(&odd) // not a class size: dropped, never handed out
	for range 100 {
		if b := pool.Get(5000); &(*b)[0] == &odd[0] {
			t.Fatal("a buffer of another size came back from the pool")
		}
	}
}

// rawRun is a RunRequest as bytes with the unusual things a peer may send:
// inputs twice (the last counts), an unknown field, inputs after the
// update.
func rawRun() []byte {
	var b []byte
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendBytes(b, filled(30000, 3))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "sess")
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	b = protowire.AppendVarint(b, 12345)
	u, _ := proto.Marshal(&chipv1.UpdateRequest{Version: 4, Weights: &chipv1.UpdateRequest_All{All: filled(6, 1)}})
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, u)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendBytes(b, filled(20000, 4))
	b = protowire.AppendTag(b, 6, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 77)
	return b
}

// checkRunRequest decodes b, cut into frames of size bytes, with the codec
// and with proto.Unmarshal, and fails unless both agree.
func checkRunRequest(t *testing.T, b []byte, size int) {
	t.Helper()
	var want chipv1.RunRequest
	werr := proto.Unmarshal(b, &want)
	var got chipv1.RunRequest
	gerr := Codec{}.Unmarshal(frames(b, size), &got)
	defer Release(&got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("codec error %v, proto error %v", gerr, werr)
	}
	if werr == nil && !proto.Equal(&got, &want) {
		t.Fatalf("codec and proto.Unmarshal decode different requests (inputs %d and %d bytes)", len(got.Inputs), len(want.Inputs))
	}
}

func TestUnmarshalRunRequest(t *testing.T) {
	big, _ := proto.Marshal(runRequest(250000, 0x1e))
	small, _ := proto.Marshal(runRequest(300, 2))
	noInputs, _ := proto.Marshal(&chipv1.RunRequest{Session: "s", Batch: 1})
	group := protowire.AppendTag(append([]byte(nil), small...), 20, protowire.StartGroupType)
	group = protowire.AppendTag(group, 20, protowire.EndGroupType)
	wrongType := protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), small...), 5, protowire.VarintType), 3)
	sparse, _ := proto.Marshal(&chipv1.RunRequest{Session: "s", Batch: 2500, SparseInputs: AppendSparse(nil, filled(250000, 0x1e))})
	both := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), small...), 8, protowire.BytesType), []byte{1, 2, 3})
	for _, b := range [][]byte{big, small, noInputs, rawRun(), group, wrongType, small[:len(small)-1], {0}, nil, sparse, both} {
		for _, size := range []int{16384, 1000, 7} {
			checkRunRequest(t, b, size)
		}
	}
}

// TestRunRequestInputsHeld: a decoded request's inputs stay what they were
// while other requests are decoded and released, until its own Release.
func TestRunRequestInputsHeld(t *testing.T) {
	b, _ := proto.Marshal(runRequest(250000, 0x11))
	var held chipv1.RunRequest
	if err := (Codec{}).Unmarshal(frames(b, 16384), &held); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		other, _ := proto.Marshal(runRequest(250000, byte(i)))
		var r chipv1.RunRequest
		if err := (Codec{}).Unmarshal(frames(other, 16384), &r); err != nil {
			t.Fatal(err)
		}
		Release(&r)
		if r.Inputs != nil {
			t.Fatal("Release left the inputs in the request")
		}
	}
	if !bytes.Equal(held.Inputs, filled(250000, 0x11)) {
		t.Fatal("a held request's inputs changed")
	}
	Release(&held)
	Release(&held) // twice: nothing
	var own chipv1.RunRequest
	own.Inputs = make([]byte, 4096)
	Release(&own) // not decoded by the codec: left alone
	if own.Inputs == nil {
		t.Fatal("Release took the inputs of a request the codec did not decode")
	}
}

func TestRunInto(t *testing.T) {
	out := make([]byte, 50000)
	for i := range out {
		out[i] = byte(i * 7)
	}
	b, _ := proto.Marshal(&chipv1.RunResponse{Outputs: out})
	for _, size := range []int{16384, 100000} {
		dst := make([]byte, len(out))
		var r chipv1.RunResponse
		if err := RunInto(dst).Unmarshal(frames(b, size), &r); err != nil {
			t.Fatal(err)
		}
		if &r.Outputs[0] != &dst[0] || !bytes.Equal(dst, out) {
			t.Fatalf("frames of %d: outputs not decoded into dst", size)
		}
	}
	// Another length than dst's: a copy, dst untouched.
	dst := make([]byte, 10)
	var r chipv1.RunResponse
	if err := RunInto(dst).Unmarshal(frames(b, 16384), &r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Outputs, out) || !bytes.Equal(dst, make([]byte, 10)) {
		t.Fatal("outputs of another length than dst's")
	}
	// Other messages go through the plain codec.
	var d chipv1.DescribeResponse
	db, _ := proto.Marshal(&chipv1.DescribeResponse{Device: "chip 1"})
	if err := RunInto(dst).Unmarshal(frames(db, 3), &d); err != nil || d.Device != "chip 1" {
		t.Fatalf("%v %v", &d, err)
	}
}

// FuzzUnmarshal: whatever the bytes and however they are cut into frames,
// the codec decodes a RunRequest and (with RunInto) a RunResponse exactly
// as proto.Unmarshal does, and fails exactly when it fails.
func FuzzUnmarshal(f *testing.F) {
	small, _ := proto.Marshal(runRequest(300, 2))
	resp, _ := proto.Marshal(&chipv1.RunResponse{Outputs: filled(40, 9)})
	for _, b := range [][]byte{small, rawRun()[:200], resp, {0x2a, 0x02, 1, 2, 0x2a, 0x01, 3}, {0x42, 0x02, 1, 2, 0x2a, 0x01, 3, 0x42, 0x00}} {
		f.Add(b, uint16(16))
	}
	f.Fuzz(func(t *testing.T, b []byte, size uint16) {
		sz := max(1, int(size))
		checkRunRequest(t, b, sz)
		var want chipv1.RunResponse
		werr := proto.Unmarshal(b, &want)
		dst := make([]byte, len(want.Outputs))
		var got chipv1.RunResponse
		gerr := RunInto(dst).Unmarshal(frames(b, sz), &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("RunInto error %v, proto error %v", gerr, werr)
		}
		if werr == nil && !proto.Equal(&got, &want) {
			t.Fatalf("RunInto and proto.Unmarshal decode different responses (outputs %d and %d bytes)", len(got.Outputs), len(want.Outputs))
		}
	})
}

// TestScratch: a request's scratch buffer and its aliased inputs stay what
// they were while other requests take and give back buffers, until its
// own Release, which gives back both (and nothing twice); a second Scratch
// of one request gets a buffer of its own.
func TestScratch(t *testing.T) {
	b, _ := proto.Marshal(&chipv1.RunRequest{Batch: 1, SparseInputs: filled(70000, 0x22)})
	var r chipv1.RunRequest
	if err := (Codec{}).Unmarshal(frames(b, 16384), &r); err != nil {
		t.Fatal(err)
	}
	x := Scratch(&r, 250000)
	copy(x, filled(250000, 0x33))
	y := Scratch(&r, 100)
	copy(y, filled(100, 0x44))
	for i := range 20 {
		var o chipv1.RunRequest
		ob, _ := proto.Marshal(&chipv1.RunRequest{Batch: 1, SparseInputs: filled(70000, byte(i))})
		if err := (Codec{}).Unmarshal(frames(ob, 16384), &o); err != nil {
			t.Fatal(err)
		}
		copy(Scratch(&o, 250000), filled(250000, byte(i)))
		Release(&o)
		if o.SparseInputs != nil {
			t.Fatal("Release left the sparse inputs in the request")
		}
	}
	if !bytes.Equal(x, filled(250000, 0x33)) || !bytes.Equal(y, filled(100, 0x44)) || !bytes.Equal(r.SparseInputs, filled(70000, 0x22)) {
		t.Fatal("a held request's buffers changed")
	}
	Release(&r)
	Release(&r)
	var own chipv1.RunRequest
	z := Scratch(&own, 5000) // not decoded by the codec: its scratch only
	own.Inputs = z
	Release(&own)
	if own.Inputs == nil {
		t.Fatal("Release took the inputs of a request the codec did not decode")
	}
}

// FuzzDecodeSparse: whatever the bytes and the number of inputs,
// DecodeSparse does not panic, the vector and plain loops agree (the same
// inputs, or an error at the same byte), and what it accepts is the form
// AppendSparse writes for those inputs, up to listed zeros.
func FuzzDecodeSparse(f *testing.F) {
	f.Add(AppendSparse(nil, sparseInputs(rand.New(rand.NewPCG(1, 1)), 1000)), uint16(1000))
	f.Add(AppendSparse(nil, bytes.Repeat([]byte{31}, 130)), uint16(130))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 5}, uint16(3))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0x80}, uint16(64))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, src []byte, n uint16) {
		fast := sparseFast
		defer func() { sparseFast = fast }()
		var outs [2][]byte
		var errs [2]error
		for i, v := range []bool{false, fast} {
			sparseFast = v
			outs[i] = make([]byte, n)
			errs[i] = DecodeSparse(outs[i], src)
		}
		var e0, e1 *SparseError
		switch {
		case (errs[0] == nil) != (errs[1] == nil):
			t.Fatalf("plain loop: %v, vector loop: %v", errs[0], errs[1])
		case errs[0] != nil:
			if !errors.As(errs[0], &e0) || !errors.As(errs[1], &e1) || e0.Offset != e1.Offset || e0.Offset < 0 || e0.Offset > len(src) {
				t.Fatalf("errors differ or are out of place: %v, %v", errs[0], errs[1])
			}
			return
		case !bytes.Equal(outs[0], outs[1]):
			t.Fatal("the plain and vector loops decode different inputs")
		}
		enc := AppendSparse(nil, outs[0])
		if len(enc) > len(src) {
			t.Fatalf("accepted %d bytes for inputs whose form takes %d", len(src), len(enc))
		}
		back := make([]byte, n)
		if err := DecodeSparse(back, enc); err != nil || !bytes.Equal(back, outs[0]) {
			t.Fatalf("re-encoded inputs do not decode back: %v", err)
		}
	})
}
