package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Protocol is the protocol this client speaks: chip.proto's package.
const Protocol = "analogloop.chip.v1"

// Defaults of Options.
const (
	// DefaultWait is how long a call keeps retrying an unreachable or busy
	// server before it gives up with ErrUnavailable (or ErrBusy).
	DefaultWait = 2 * time.Minute
	// DefaultCallTimeout is the deadline of one attempt of one call.
	DefaultCallTimeout = time.Minute
)

// Backoff between retries: from firstBackoff, doubling, at most maxBackoff,
// each wait drawn within ±20 % so that clients do not retry in step.
const (
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// HTTP/2 flow-control window per call and the connection's buffers.
const (
	windowSize = 8 << 20
	bufferSize = 256 << 10
)

// maxRecoveries bounds how often one call programs again because the
// server lost its program, before it reports the server as unavailable:
// a server that loses state on every call is not one to train with.
const maxRecoveries = 8

// Options say which server to reach and how.
type Options struct {
	// Addr is the server's host:port.
	Addr string
	// Token is the bearer token sent with every call ("" for none).
	Token string
	// TLS, when set, secures the connection (see TLSConfig); nil talks
	// plaintext, for loopback.
	TLS *tls.Config
	// Wait bounds how long a call retries while the server cannot be
	// reached or is busy (0: DefaultWait); then the call fails with
	// ErrUnavailable or ErrBusy.
	Wait time.Duration
	// CallTimeout is the deadline of one attempt (0: DefaultCallTimeout).
	// It must exceed the slowest call the server answers.
	CallTimeout time.Duration
	// Client names this client in the server's logs and metrics (default:
	// program, pid and host).
	Client string
	// Logger receives reconnections and the traffic summary at Close
	// (nil: slog.Default()).
	Logger *slog.Logger
	// Naive sends all weights with every run, as a protocol without
	// programs would: only for measuring what the programs save.
	Naive bool
	// NoStream makes every run a Run call even when the server offers
	// RunStream: for measuring what the streams save.
	NoStream bool
	// NoSparse sends every run's inputs plain even when the server takes
	// them in sparse form: for measuring what the sparse form saves.
	NoSparse bool
	// NoChain makes RunChain send one run per request even when the
	// server runs chains: for measuring what chains save.
	NoChain bool
}

// Stats are what a Device has put on the wire and how often it had to
// recover.
type Stats struct {
	// BytesSent and BytesReceived are the bytes of the connection's TCP
	// payload: protocol buffers, gRPC and HTTP/2 framing and headers, TLS
	// records if any.
	BytesSent, BytesReceived int64
	// WeightMessages is the size of the ProgramRequests and
	// UpdateRequests sent (protocol buffers, without framing).
	WeightMessages int64
	Programs       int64 // ProgramRequests sent (reprogramming included)
	Updates        int64 // UpdateRequests sent
	SparseUpdates  int64 // of which carried only the changes
	Runs           int64
	Retries        int64 // attempts repeated after a transient failure
	Reprograms     int64 // programs sent again because the server had lost them
	Sessions       int64 // sessions opened
	// Streams is the number of run streams opened (RunStream); 0 when the
	// runs were Run calls.
	Streams int64
	// SparseRuns is the number of requests whose inputs went in sparse
	// form (RunRequest.sparse_inputs).
	SparseRuns int64
	// Chains is the number of requests that carried more than one run
	// (RunRequest.then); Runs counts every run of them.
	Chains int64
}

// Device is a chip reached over the network: an analogmac.Device (and
// Describer: it describes the device the server serves) whose programs
// live on the server. See the package documentation.
type Device struct {
	o      Options
	conn   *grpc.ClientConn
	api    chipv1.ChipClient
	log    *slog.Logger
	spec   analogmac.Spec
	desc   *chipv1.DescribeResponse
	maxMsg int
	closed atomic.Bool
	nextID atomic.Uint64

	smu  sync.Mutex // guards sess and gen; held while (re)opening
	sess string
	gen  uint64 // incremented with every session opened

	// Run streams (RunStream), used when the server lists the feature:
	// idle ones wait in pool for the next run.
	useStream atomic.Bool
	// Inputs in sparse form, when the server takes them and this
	// processor encodes them fast (wirecodec.SparseFast).
	useSparse atomic.Bool
	// Chains of runs in one request, when the server lists the feature;
	// at most maxChain runs in one.
	useChain atomic.Bool
	maxChain atomic.Int64
	pmu      sync.Mutex
	pool     []*runStream

	sent, recv, weightMsgs                                                atomic.Int64
	programs, updates, sparse, runs, retries, reprograms, sessns, streams atomic.Int64
	sparseRuns, chains                                                    atomic.Int64
}

// TLSConfig returns the TLS configuration of a client that trusts the CA
// certificates in caFile (PEM) and expects the server to be serverName
// ("" : the host of the address dialled).
func TLSConfig(caFile, serverName string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("remote: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("remote: CA file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}

// bearer sends the token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (b bearer) RequireTransportSecurity() bool { return false }

// countConn counts the bytes a connection carries.
type countConn struct {
	net.Conn
	sent, recv *atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.recv.Add(int64(n))
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(int64(n))
	return n, err
}

// Dial connects to the server at o.Addr, learns which device it serves and
// opens a session. It waits up to o.Wait for a server that cannot be
// reached yet (one still starting), and fails at once on a wrong token.
func Dial(ctx context.Context, o Options) (*Device, error) {
	if o.Addr == "" {
		return nil, errors.New("remote: no server address")
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Client == "" {
		host, _ := os.Hostname()
		o.Client = fmt.Sprintf("%s pid %d on %s", filepath.Base(os.Args[0]), os.Getpid(), host)
	}
	d := &Device{o: o, log: o.Logger, maxMsg: 4 << 20}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("remote", o.Addr)
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return &countConn{Conn: c, sent: &d.sent, recv: &d.recv}, nil
		}),
		// Reconnect quickly once a restarted server listens again; the
		// calls' own retries bound the total wait.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30),
			// grpc's proto codec without its clearing of 1 MiB buffers
			// (internal/wirecodec); the same bytes on the wire.
			grpc.ForceCodecV2(wirecodec.Codec{})),
		// Windows large enough for a batch's inputs (a few MB) to go out
		// without waiting for the receiver's window updates.
		grpc.WithInitialWindowSize(windowSize), grpc.WithInitialConnWindowSize(2 * windowSize),
		grpc.WithWriteBufferSize(bufferSize), grpc.WithReadBufferSize(bufferSize),
	}
	if o.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(o.Token)))
	}
	conn, err := grpc.NewClient("passthrough:///"+o.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("remote: %s: %w", o.Addr, err)
	}
	d.conn, d.api = conn, chipv1.NewChipClient(conn)
	if err := d.describe(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if _, _, err := d.session(ctx); err != nil {
		conn.Close()
		return nil, d.err(err)
	}
	return d, nil
}

// describe asks the server what it serves and checks that this client
// understands it; on a reconnection, that it is still the same device.
func (d *Device) describe(ctx context.Context) error {
	var r *chipv1.DescribeResponse
	err := d.do(ctx, func(c context.Context) (err error) {
		r, err = d.api.Describe(c, &chipv1.DescribeRequest{})
		return err
	})
	if err != nil {
		return d.err(err)
	}
	if r.Protocol != Protocol {
		return fmt.Errorf("remote: %s speaks %q, this client %q", d.o.Addr, r.Protocol, Protocol)
	}
	// A server that restarted may be another implementation: ask anew.
	d.useStream.Store(!d.o.NoStream && slices.Contains(r.Features, featureRunStream))
	d.useSparse.Store(!d.o.NoSparse && wirecodec.SparseFast() && slices.Contains(r.Features, featureSparseInputs))
	d.maxChain.Store(int64(r.GetLimits().GetMaxChain()))
	d.useChain.Store(!d.o.NoChain && slices.Contains(r.Features, featureChain) && r.GetLimits().GetMaxChain() > 1)
	if d.desc != nil {
		if r.SpecJson != d.desc.SpecJson {
			return fmt.Errorf("remote: %s now serves %s (%s), not the %s this device was opened on: %w", d.o.Addr, r.Device, r.SpecJson, d.desc.Device, analogmac.ErrUnavailable)
		}
		return nil
	}
	var spec analogmac.Spec
	if err := json.Unmarshal([]byte(r.SpecJson), &spec); err != nil {
		return fmt.Errorf("remote: %s: device description %q: %v", d.o.Addr, r.SpecJson, err)
	}
	if spec.GainPerSend != r.GainPerSend || !(r.GainPerSend > 0) {
		return fmt.Errorf("remote: %s: gain %g disagrees with its description's %g", d.o.Addr, r.GainPerSend, spec.GainPerSend)
	}
	if l := r.GetLimits(); l != nil && l.MaxMessageBytes > 0 {
		d.maxMsg = int(l.MaxMessageBytes)
	}
	d.desc, d.spec = r, spec
	d.log.Info("remote device", "device", r.Device, "server", r.Server)
	return nil
}

// Spec implements analogmac.Describer: the device the server serves, as
// it describes it.
func (d *Device) Spec() analogmac.Spec { return d.spec }

// Gain implements analogmac.Device.
func (d *Device) Gain() float64 { return d.desc.GainPerSend }

// Stats returns the counts so far.
func (d *Device) Stats() Stats {
	return Stats{BytesSent: d.sent.Load(), BytesReceived: d.recv.Load(), WeightMessages: d.weightMsgs.Load(), Programs: d.programs.Load(), Updates: d.updates.Load(),
		SparseUpdates: d.sparse.Load(), Runs: d.runs.Load(), Retries: d.retries.Load(), Reprograms: d.reprograms.Load(), Sessions: d.sessns.Load(),
		Streams: d.streams.Load(), SparseRuns: d.sparseRuns.Load(), Chains: d.chains.Load()}
}

// Close implements analogmac.Device: it closes the session, which frees
// every program on the server, and the connection. It waits for the
// server at most a few seconds.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.smu.Lock()
	sess := d.sess
	d.sess = ""
	d.smu.Unlock()
	if sess != "" {
		ctx, cancel := context.WithTimeout(context.Background(), min(d.o.CallTimeout, 5*time.Second))
		_, _ = d.api.CloseSession(ctx, &chipv1.CloseSessionRequest{Session: sess})
		cancel()
	}
	d.dropStreams()
	st := d.Stats()
	d.log.Info("remote device closed", "bytes_sent", st.BytesSent, "bytes_received", st.BytesReceived, "programs", st.Programs,
		"updates", st.Updates, "sparse_updates", st.SparseUpdates, "runs", st.Runs, "retries", st.Retries, "reprograms", st.Reprograms, "sessions", st.Sessions, "streams", st.Streams)
	return d.conn.Close()
}

func (d *Device) closedErr(what string) error {
	return fmt.Errorf("remote: %s: %w", what, analogmac.ErrClosed)
}

// retryable reports the codes worth another attempt after a pause.
func retryable(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// do makes one call with a deadline per attempt, retrying transient
// failures with backoff for up to o.Wait. It returns nil, the caller's
// context's error, a status error the caller handles (NOT_FOUND,
// FAILED_PRECONDITION, ...) or, when the wait is over, an error wrapping
// ErrUnavailable or ErrBusy.
func (d *Device) do(ctx context.Context, call func(context.Context) error) error {
	var first time.Time
	delay := firstBackoff
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, d.o.CallTimeout)
		err := call(actx)
		cancel()
		if err == nil {
			if !first.IsZero() {
				d.log.Info("server reachable again", "after", time.Since(first).Round(time.Millisecond).String())
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st := status.Convert(err)
		if !retryable(st.Code()) {
			return err
		}
		if strings.Contains(st.Message(), "authentication handshake failed") {
			// A certificate the client does not trust, or TLS on one side
			// only: waiting will not change it.
			return fmt.Errorf("remote: %s: TLS: %s (check -tls-ca and the server's -tls-cert): %w", d.o.Addr, st.Message(), analogmac.ErrUnavailable)
		}
		if first.IsZero() {
			first = time.Now()
			d.log.Warn("server not answering: retrying", "code", st.Code().String(), "error", st.Message(), "wait", d.o.Wait.String())
		}
		left := d.o.Wait - time.Since(first)
		if left <= 0 {
			sentinel := analogmac.ErrUnavailable
			if st.Code() == codes.ResourceExhausted {
				sentinel = analogmac.ErrBusy
			}
			return fmt.Errorf("remote: %s: no answer for %s (last: %s: %s): %w", d.o.Addr, d.o.Wait, st.Code(), st.Message(), sentinel)
		}
		pause := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		d.retries.Add(1)
		delay = min(2*delay, maxBackoff)
	}
}

// err turns what do returned into an error of the device contract.
func (d *Device) err(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err // ours already, or a context's
	}
	switch st.Code() {
	case codes.InvalidArgument:
		field, msg := "request", st.Message()
		if f, m, found := strings.Cut(msg, ": "); found && f != "" && !strings.Contains(f, " ") {
			field, msg = f, m
		}
		for _, det := range st.Details() {
			if br, ok := det.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
				field, msg = br.FieldViolations[0].Field, br.FieldViolations[0].Description
			}
		}
		return &analogmac.ArgError{Field: field, Msg: msg + " (refused by the server " + d.o.Addr + ")"}
	case codes.Unauthenticated, codes.PermissionDenied:
		// The server is there but will not serve us: the device is
		// unavailable to this run until the token is put right.
		return fmt.Errorf("remote: %s refused the token (%s): check -token-file or $ANALOGLOOP_CHIP_TOKEN: %w", d.o.Addr, st.Message(), analogmac.ErrUnavailable)
	case codes.ResourceExhausted:
		return fmt.Errorf("remote: %s: %s: %w", d.o.Addr, st.Message(), analogmac.ErrBusy)
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.NotFound, codes.FailedPrecondition:
		return fmt.Errorf("remote: %s: %s: %s: %w", d.o.Addr, st.Code(), st.Message(), analogmac.ErrUnavailable)
	case codes.Canceled:
		return fmt.Errorf("remote: %s: %s: %w", d.o.Addr, st.Message(), context.Canceled)
	}
	return fmt.Errorf("remote: %s: %s: %s", d.o.Addr, st.Code(), st.Message())
}

// session returns the open session and its generation, opening one (and
// on a reconnection checking the device first) when there is none.
func (d *Device) session(ctx context.Context) (string, uint64, error) {
	d.smu.Lock()
	defer d.smu.Unlock()
	if d.sess != "" {
		return d.sess, d.gen, nil
	}
	if d.closed.Load() {
		return "", 0, d.closedErr("session")
	}
	if d.gen > 0 {
		if err := d.describe(ctx); err != nil {
			return "", 0, err
		}
	}
	var r *chipv1.OpenSessionResponse
	err := d.do(ctx, func(c context.Context) (err error) {
		r, err = d.api.OpenSession(c, &chipv1.OpenSessionRequest{Client: d.o.Client})
		return err
	})
	if err != nil {
		return "", 0, err
	}
	if r.Session == "" {
		return "", 0, fmt.Errorf("remote: %s opened a session without an id", d.o.Addr)
	}
	d.sess = r.Session
	d.gen++
	d.sessns.Add(1)
	if d.gen > 1 {
		d.log.Info("new session: programs will be sent again", "generation", d.gen)
	}
	return d.sess, d.gen, nil
}

// lost forgets the session of generation gen: the server does not know it.
func (d *Device) lost(gen uint64) {
	d.smu.Lock()
	if d.gen == gen {
		d.sess = ""
	}
	d.smu.Unlock()
}
