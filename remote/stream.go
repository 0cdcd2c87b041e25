package remote

import (
	"context"
	"errors"
	"io"

	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// featureRunStream is the server's feature that offers RunStream
// (chipserver.FeatureRunStream).
const featureRunStream = "run_stream"

// featureSparseInputs is the server's feature that takes
// RunRequest.sparse_inputs (chipserver.FeatureSparseInputs).
const featureSparseInputs = "sparse_inputs"

// featureChain is the server's feature that runs chains of runs in one
// request (RunRequest.then).
const featureChain = "chain"

// maxIdleStreams bounds the run streams kept open between runs: as many as
// runs were in flight at once, up to this many.
const maxIdleStreams = 8

// runStream is one RunStream call, carrying one run at a time. It lives
// beyond the run that opened it (its context is not the run's) and goes
// back to the device's pool after each successful run; an error, or a run
// whose deadline or context ended while it waited, cancels it.
type runStream struct {
	st     grpc.BidiStreamingClient[chipv1.RunRequest, chipv1.RunResponse]
	cancel context.CancelFunc
	codec  *wirecodec.StreamInto
}

// takeStream returns an idle stream, nil if there is none.
func (d *Device) takeStream() *runStream {
	d.pmu.Lock()
	defer d.pmu.Unlock()
	if n := len(d.pool); n > 0 {
		rs := d.pool[n-1]
		d.pool = d.pool[:n-1]
		return rs
	}
	return nil
}

// putStream keeps rs for the next run, or ends it when the pool is full or
// the device closed.
func (d *Device) putStream(rs *runStream) {
	d.pmu.Lock()
	if !d.closed.Load() && len(d.pool) < maxIdleStreams {
		d.pool = append(d.pool, rs)
		rs = nil
	}
	d.pmu.Unlock()
	if rs != nil {
		rs.end()
	}
}

// dropStreams ends the idle streams: after an error that may have broken
// the connection they ran on (a restarted server), and at Close.
func (d *Device) dropStreams() {
	d.pmu.Lock()
	pool := d.pool
	d.pool = nil
	d.pmu.Unlock()
	for _, rs := range pool {
		rs.end()
	}
}

// end closes the stream: the server's handler sees the client's end of
// the stream, then the cancellation.
func (rs *runStream) end() {
	_ = rs.st.CloseSend()
	rs.cancel()
}

// streamRun makes one attempt of a run on a stream, within ctx (the
// attempt's deadline and the caller's context): an idle stream or a new
// one. It returns what Run would: the response, or a status error (the
// stream's end), or, when ctx ended first, DEADLINE_EXCEEDED or CANCELED.
func (d *Device) streamRun(ctx context.Context, req *chipv1.RunRequest, dst []byte) (*chipv1.RunResponse, error) {
	rs := d.takeStream()
	var sctx context.Context
	if rs == nil {
		rs = &runStream{codec: &wirecodec.StreamInto{}}
		sctx, rs.cancel = context.WithCancel(context.Background())
	}
	// The attempt's end cancels the stream, whose calls then return.
	stop := context.AfterFunc(ctx, rs.cancel)
	var err error
	if rs.st == nil {
		if rs.st, err = d.api.RunStream(sctx, grpc.ForceCodecV2(rs.codec)); err != nil {
			stop()
			rs.cancel()
			return nil, d.ctxErr(ctx, err)
		}
		d.streams.Add(1)
	}
	rs.codec.Set(dst)
	r := new(chipv1.RunResponse)
	err = rs.st.Send(req)
	if err == nil || errors.Is(err, io.EOF) {
		// On io.EOF the stream has ended: its status comes from RecvMsg.
		if rerr := rs.st.RecvMsg(r); rerr != nil || err != nil {
			if rerr == nil {
				rerr = status.Error(codes.Internal, "run stream: an answer after the stream ended")
			}
			err = rerr
		}
	}
	rs.codec.Set(nil)
	if !stop() {
		// ctx ended: the stream is cancelled, whatever it returned.
		return nil, d.ctxErr(ctx, context.Canceled)
	}
	if err != nil {
		rs.cancel()
		if errors.Is(err, io.EOF) {
			err = status.Error(codes.Unavailable, "run stream: ended by the server without a status")
		}
		if c := status.Code(err); c == codes.Unavailable || c == codes.Canceled || c == codes.Internal {
			// The connection may be gone: so are the other idle streams.
			d.dropStreams()
		}
		return nil, err
	}
	d.putStream(rs)
	return r, nil
}

// ctxErr is the status of an attempt whose context ended (its deadline:
// DEADLINE_EXCEEDED, retried; the caller's: CANCELED), else err.
func (d *Device) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return status.FromContextError(cerr).Err()
	}
	return err
}
