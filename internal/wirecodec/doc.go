// Package wirecodec is the gRPC codec of the chip protocol's Go client
// (package remote) and server (package chipserver): grpc's own proto codec
// (google.golang.org/grpc/encoding/proto), the same bytes on the wire, with
// buffers of its own, which are not cleared when they are reused, and
// without a copy of a run's inputs (server) and outputs (client); and the
// sparse form of a run's inputs (sparse.go).
//
// Why. grpc's codec takes its buffers from mem.DefaultBufferPool, whose
// tiers are 256 B, 4, 16 and 32 KiB and 1 MiB, and clears a buffer's whole
// capacity on every Get. A training step's convolution run sends 250 KB of
// inputs and receives 50 KB of outputs; each of these messages, and the
// 50 KB inputs of the first dense layer, takes a 1 MiB buffer when it is
// marshalled and another when it is received: 6 MiB cleared per step, on
// the critical path of a call, for messages of 0.35 MB.
//
// Why no byte of one message can reach another. A buffer of the pool is
// only ever handed on as (*buf)[:n] after this package has written all of
// its n bytes:
//
//   - Marshal: proto's MarshalAppend appends to (*buf)[:0]; the result is
//     used only when it has exactly the length proto.Size computed and
//     still starts at the buffer (it wrote every byte of [0:n] then);
//     otherwise the buffer goes back and proto's own slice is sent.
//     grpc reads the mem.Buffer (mem.NewBuffer) within its length only
//     (Buffer.ReadOnlyData, split into frames by the loopy writer) and
//     gives it back with Put once its last reference is freed, as it does
//     with the buffers of its own codec.
//   - Unmarshal: a message of several frames is copied into (*buf)[:n]
//     (mem.BufferSlice.CopyTo, which writes all n = data.Len() bytes), and
//     proto.Unmarshal reads [0:n]. proto copies every bytes and string
//     field and the unknown fields out of its input (the messages of
//     chip.proto and of the health service have no lazy fields), so the
//     buffer is free again when Unmarshal returns: grpc's codec frees its
//     own materialised buffer at the same point.
//   - A RunRequest (the server's) is copied likewise into (*buf)[:n],
//     every byte written; its Inputs and SparseInputs are subslices of
//     those n bytes, capped at their length, and the rest of the message
//     is decoded by proto from a copy. The buffer goes back to the pool
//     only in Release, which the server calls when the call, or the run
//     of a stream, is over (chipserver's interceptor and stream handler,
//     after Run returned: Run does not keep its inputs), and which also
//     clears the request's Inputs and SparseInputs.
//   - Scratch hands out (*buf)[:n] for a request's inputs decoded from
//     their sparse form; DecodeSparse writes all n bytes when it succeeds,
//     and the server reads none when it fails. It goes back in the same
//     Release.
//   - A RunResponse (the client's, RunInto) is decoded from (*buf)[:n] as
//     above; its outputs are copied into the caller's dst, which the
//     caller owns, and the buffer goes back before Unmarshal returns.
//
// The stale bytes beyond a slice's length are never read: nothing here or
// in grpc reslices a codec's buffer beyond its length. A message of one
// frame is unmarshalled in place, as grpc's codec does (a RunRequest is
// copied: its inputs outlive the frame).
package wirecodec
