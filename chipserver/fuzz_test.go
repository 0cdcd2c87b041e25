package chipserver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The fuzz targets feed arbitrary bytes, decoded as a request, to the
// server's handlers (their checks included) with a small message limit,
// on a session that already holds a 130 x 3 program (two row blocks) at
// version 5, and a 3 x 3 program 2 (version 5) that a chain can run on
// its outputs. Whatever the bytes, a handler must not panic and must answer
// either success or one of the protocol's codes; INVALID_ARGUMENT must
// name a field, in the message and in a BadRequest; and whatever it
// accepted must be what analogmac.Check and CheckRun accept. Seeds live in
// testdata/fuzz/<target>/.

const fuzzRows, fuzzCols, fuzzVersion = 130, 3, 5

// fuzzRowsOf is the rows of the fuzz session's program id (1 or 2).
func fuzzRowsOf(id uint64) int {
	if id == 2 {
		return fuzzCols
	}
	return fuzzRows
}

func fuzzServer(t testing.TB) (*Server, string) {
	d, err := analogmac.NewDevice(analogmac.KindChip, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Device: d, Logger: slog.New(slog.DiscardHandler), MaxMessageBytes: 1 << 16, MaxWeights: 1 << 15, MaxPrograms: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx := context.Background()
	r, err := s.OpenSession(ctx, &chipv1.OpenSessionRequest{Client: "fuzz"})
	if err != nil {
		t.Fatal(err)
	}
	w := make([]byte, fuzzRows*fuzzCols)
	for i := range w {
		w[i] = byte(int8(i%127 - 63))
	}
	if _, err := s.Program(ctx, &chipv1.ProgramRequest{Session: r.Session, Program: 1, Rows: fuzzRows, Cols: fuzzCols, Sends: 2, Weights: w, Version: fuzzVersion}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Program(ctx, &chipv1.ProgramRequest{Session: r.Session, Program: 2, Rows: fuzzCols, Cols: fuzzCols, Sends: 1, Weights: w[:fuzzCols*fuzzCols], Version: fuzzVersion}); err != nil {
		t.Fatal(err)
	}
	return s, r.Session
}

// checkAnswer fails unless err is a status the protocol allows for a
// request from a client, with INVALID_ARGUMENT naming its field.
func checkAnswer(t *testing.T, err error) {
	if err == nil {
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a status: %v", err)
	}
	switch st.Code() {
	case codes.NotFound, codes.FailedPrecondition, codes.ResourceExhausted:
	case codes.InvalidArgument:
		var field string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) == 1 {
				field = br.FieldViolations[0].Field
			}
		}
		if field == "" || !strings.HasPrefix(st.Message(), field+": ") {
			t.Fatalf("INVALID_ARGUMENT %q names no field (BadRequest field %q)", st.Message(), field)
		}
	default:
		t.Fatalf("code %s: %s", st.Code(), st.Message())
	}
}

func FuzzProgram(f *testing.F) {
	s, sess := fuzzServer(f)
	for _, r := range seedsProgram() {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req chipv1.ProgramRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		req.Session = sess
		_, err := s.Program(context.Background(), &req)
		checkAnswer(t, err)
		if err == nil {
			m := analogmac.Matrix{Rows: int(req.Rows), Cols: int(req.Cols), Sends: int(req.Sends), Weights: int8s(req.Weights),
				Placement: analogmac.Placement{Row: int(req.GetPlacement().GetRow()), Column: int(req.GetPlacement().GetColumn())}}
			if cerr := analogmac.Check(m); cerr != nil {
				t.Fatalf("accepted a matrix analogmac.Check refuses: %v", cerr)
			}
			if req.Program != 1 { // keep the session's room for the next input
				s.Free(context.Background(), &chipv1.FreeRequest{Session: sess, Program: req.Program})
			}
		}
	})
}

func FuzzUpdate(f *testing.F) {
	s, sess := fuzzServer(f)
	for _, r := range seedsUpdate() {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req chipv1.UpdateRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		req.Session = sess
		_, err := s.Update(context.Background(), &req)
		checkAnswer(t, err)
		if err == nil && req.Program == 1 {
			// Whatever was accepted must be weights in range.
			s.mu.Lock()
			p := s.sessions[sess].progs[1]
			s.mu.Unlock()
			p.mu.RLock()
			m := p.m
			p.mu.RUnlock()
			if cerr := analogmac.Check(m); cerr != nil {
				t.Fatalf("the program now holds weights analogmac.Check refuses: %v", cerr)
			}
		}
	})
}

func FuzzRun(f *testing.F) {
	s, sess := fuzzServer(f)
	for _, r := range seedsRun() {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	for _, b := range rawSeedsRun() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The server decodes a RunRequest with its codec, which leaves the
		// inputs in a pooled buffer: it must decode exactly what
		// proto.Unmarshal decodes, and refuse what it refuses.
		var want, req chipv1.RunRequest
		perr := proto.Unmarshal(b, &want)
		cerr := wirecodec.Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &req)
		defer wirecodec.Release(&req)
		if (perr == nil) != (cerr == nil) {
			t.Fatalf("codec error %v, proto error %v", cerr, perr)
		}
		if perr != nil {
			return
		}
		if !proto.Equal(&req, &want) {
			t.Fatalf("the codec and proto.Unmarshal decode different requests (inputs %d and %d bytes)", len(req.Inputs), len(want.Inputs))
		}
		req.Session = sess
		r, err := s.Run(context.Background(), &req)
		checkAnswer(t, err)
		if err != nil {
			return
		}
		// Whatever update was accepted left weights in range.
		for _, id := range []uint64{1, 2} {
			s.mu.Lock()
			p := s.sessions[sess].progs[id]
			s.mu.Unlock()
			p.mu.RLock()
			m := p.m
			p.mu.RUnlock()
			if cerr := analogmac.Check(m); cerr != nil {
				t.Fatalf("program %d now holds weights analogmac.Check refuses: %v", id, cerr)
			}
		}
		rows := fuzzRowsOf(req.Program)
		if len(r.Outputs) != int(req.Batch)*fuzzCols {
			t.Fatalf("%d outputs for batch %d", len(r.Outputs), req.Batch)
		}
		x := req.Inputs
		if len(req.SparseInputs) > 0 {
			x = make([]byte, int(req.Batch)*rows)
			if derr := wirecodec.DecodeSparse(x, req.SparseInputs); derr != nil {
				t.Fatalf("ran sparse inputs DecodeSparse refuses: %v", derr)
			}
		}
		if cerr := analogmac.CheckRun(int8s(r.Outputs), x, int(req.Batch), rows, fuzzCols); cerr != nil {
			t.Fatalf("ran inputs analogmac.CheckRun refuses: %v", cerr)
		}
		// A chain's runs each answered, each batch x 3 outputs, its inputs
		// the outputs before it.
		if len(r.ThenOutputs) != len(req.Then) || len(req.Then) >= MaxChain {
			t.Fatalf("%d chained outputs for %d chained runs", len(r.ThenOutputs), len(req.Then))
		}
		prev := len(r.Outputs)
		for i, c := range req.Then {
			rows := fuzzRowsOf(c.Program)
			if int(c.Batch)*rows != prev || len(r.ThenOutputs[i]) != int(c.Batch)*fuzzCols || c.ReluShift > analogmac.MaxShift {
				t.Fatalf("accepted chained run %d: batch %d x %d rows after %d outputs, shift %d, %d outputs", i, c.Batch, rows, prev, c.ReluShift, len(r.ThenOutputs[i]))
			}
			prev = len(r.ThenOutputs[i])
		}
	})
}

// TestWriteFuzzSeeds writes the seeds above into testdata/fuzz, where go
// test finds them: CHIPSERVER_WRITE_SEEDS=1 go test -run TestWriteFuzzSeeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("CHIPSERVER_WRITE_SEEDS") == "" {
		t.Skip("set CHIPSERVER_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	for target, msgs := range map[string][]proto.Message{
		"FuzzProgram": seedsProgram(), "FuzzUpdate": seedsUpdate(), "FuzzRun": seedsRun(),
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var seeds [][]byte
		for _, m := range msgs {
			b, _ := proto.Marshal(m)
			seeds = append(seeds, b)
		}
		if target == "FuzzRun" {
			seeds = append(seeds, rawSeedsRun()...)
		}
		for i, b := range seeds {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// rawSeedsRun are RunRequests as a peer other than the Go client may send
// them, for the codec's decoding of the inputs: inputs twice (the last
// counts) around an unknown field, inputs with the wrong wire type, and a
// group.
func rawSeedsRun() [][]byte {
	head, _ := proto.Marshal(&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 1, NoiseKey: 3})
	inputs := func(b []byte, v byte) []byte {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		return protowire.AppendBytes(b, bytes.Repeat([]byte{v}, fuzzRows))
	}
	twice := inputs(protowire.AppendVarint(protowire.AppendTag(inputs(slices.Clone(head), 40), 99, protowire.VarintType), 1), 7)
	wrongType := protowire.AppendVarint(protowire.AppendTag(inputs(slices.Clone(head), 1), 5, protowire.VarintType), 2)
	group := protowire.AppendTag(protowire.AppendTag(inputs(slices.Clone(head), 2), 20, protowire.StartGroupType), 20, protowire.EndGroupType)
	return [][]byte{twice, wrongType, group}
}

func seedsProgram() []proto.Message {
	return []proto.Message{
		&chipv1.ProgramRequest{Program: 2, Rows: 2, Cols: 2, Sends: 1, Weights: []byte{1, 2, 3, 0xc1}},
		&chipv1.ProgramRequest{Program: 3, Rows: 1, Cols: 1, Sends: 1024, Weights: []byte{0x40}},
		&chipv1.ProgramRequest{Program: 2, Rows: 3, Cols: 300, Sends: 3, Placement: &chipv1.Placement{Row: 120, Column: 400}, Weights: make([]byte, 900)},
		&chipv1.ProgramRequest{Program: 1, Rows: 1 << 14, Cols: 1 << 14, Sends: 1},
	}
}

func seedsUpdate() []proto.Message {
	return []proto.Message{
		&chipv1.UpdateRequest{Program: 1, BaseVersion: fuzzVersion, Version: fuzzVersion + 1, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{0, 5, 300}, Values: []byte{1, 0xff, 63}}}},
		&chipv1.UpdateRequest{Program: 1, BaseVersion: fuzzVersion, Version: fuzzVersion, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{389}, Values: []byte{64}}}},
		&chipv1.UpdateRequest{Program: 1, Version: 9, Weights: &chipv1.UpdateRequest_All{All: make([]byte, fuzzRows*fuzzCols)}},
		&chipv1.UpdateRequest{Program: 1, BaseVersion: 1, Version: 2, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{4294967295}, Values: []byte{1}}}},
		&chipv1.UpdateRequest{Program: 7},
	}
}

func seedsRun() []proto.Message {
	return []proto.Message{
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 1, Inputs: make([]byte, fuzzRows), NoiseKey: 7},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 2, Inputs: append(make([]byte, 2*fuzzRows-1), 32)},
		&chipv1.RunRequest{Program: 1, Version: 4, Batch: 1, Inputs: make([]byte, fuzzRows)},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 1 << 16},
		&chipv1.RunRequest{Program: 2, Batch: 1},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion + 1, Batch: 1, Inputs: make([]byte, fuzzRows),
			Update: &chipv1.UpdateRequest{BaseVersion: fuzzVersion, Version: fuzzVersion + 1, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{3, 0}, Values: []byte{7, 0xc2}}}}},
		&chipv1.RunRequest{Program: 1, Version: 9, Batch: 1, Inputs: make([]byte, fuzzRows),
			Update: &chipv1.UpdateRequest{Version: 9, Weights: &chipv1.UpdateRequest_All{All: make([]byte, fuzzRows*fuzzCols)}}},
		// Sparse inputs: valid, one input of 32, cut short, beside plain
		// inputs, and a few bytes for a huge batch.
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 2, SparseInputs: wirecodec.AppendSparse(nil, sparseSeed(2*fuzzRows, 0))},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 2, SparseInputs: wirecodec.AppendSparse(nil, sparseSeed(2*fuzzRows, 32))},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 1, SparseInputs: wirecodec.AppendSparse(nil, sparseSeed(fuzzRows, 0))[:20]},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 1, Inputs: make([]byte, fuzzRows), SparseInputs: wirecodec.AppendSparse(nil, make([]byte, fuzzRows))},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 60000, SparseInputs: make([]byte, 16)},
		// Chains: 130 x 3 then 3 x 3 twice, with an update; a batch that
		// does not follow; a shift out of range; an unknown program.
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 2, Inputs: sparseSeed(2*fuzzRows, 0), Then: []*chipv1.ChainedRun{
			{Program: 2, Version: fuzzVersion, Batch: 2, NoiseKey: 3, ReluShift: 1},
			{Program: 2, Version: fuzzVersion + 1, Batch: 2, ReluShift: 7,
				Update: &chipv1.UpdateRequest{BaseVersion: fuzzVersion, Version: fuzzVersion + 1, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{4}, Values: []byte{9}}}}}}},
		&chipv1.RunRequest{Program: 1, Version: fuzzVersion, Batch: 2, Inputs: sparseSeed(2*fuzzRows, 0), Then: []*chipv1.ChainedRun{{Program: 2, Version: fuzzVersion, Batch: 3}}},
		&chipv1.RunRequest{Program: 2, Version: fuzzVersion, Batch: 1, Inputs: []byte{1, 2, 3}, Then: []*chipv1.ChainedRun{{Program: 2, Version: fuzzVersion, Batch: 1, ReluShift: 8}}},
		&chipv1.RunRequest{Program: 2, Version: fuzzVersion, Batch: 1, Inputs: []byte{1, 2, 3}, Then: []*chipv1.ChainedRun{{Program: 9, Batch: 1}}},
	}
}

// sparseSeed are n inputs, one in eight not 0, the last one `last` when
// that is not 0.
func sparseSeed(n int, last byte) []byte {
	x := make([]byte, n)
	for i := 0; i < n; i += 8 {
		x[i] = byte(i % 32)
	}
	if last != 0 {
		x[n-1] = last
	}
	return x
}

// FuzzSessionCalls: the same bytes as an OpenSessionRequest, a
// FreeRequest and a CloseSessionRequest (on the fuzz session, whose
// program 1 must survive a Free of another id).
func FuzzSessionCalls(f *testing.F) {
	s, sess := fuzzServer(f)
	for _, m := range []proto.Message{
		&chipv1.OpenSessionRequest{Client: "train pid 1 on host"},
		&chipv1.OpenSessionRequest{Client: strings.Repeat("x", 201)},
		&chipv1.FreeRequest{Program: 9},
		&chipv1.CloseSessionRequest{Session: "nonexistent"},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		var open chipv1.OpenSessionRequest
		if proto.Unmarshal(b, &open) == nil {
			r, err := s.OpenSession(ctx, &open)
			checkAnswer(t, err)
			if err == nil {
				if len(open.Client) > maxClientName {
					t.Fatalf("accepted a client name of %d bytes", len(open.Client))
				}
				s.CloseSession(ctx, &chipv1.CloseSessionRequest{Session: r.Session})
			}
		}
		var free chipv1.FreeRequest
		if proto.Unmarshal(b, &free) == nil && free.Program != 1 {
			free.Session = sess
			_, err := s.Free(ctx, &free)
			checkAnswer(t, err)
		}
		var cl chipv1.CloseSessionRequest
		if proto.Unmarshal(b, &cl) == nil && cl.Session != sess {
			_, err := s.CloseSession(ctx, &cl)
			checkAnswer(t, err)
		}
	})
}
