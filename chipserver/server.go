package chipserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/internal/wirecodec"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Protocol is the protocol a Server speaks: chip.proto's package.
const Protocol = "analogloop.chip.v1"

// The optional parts of the protocol, as Describe lists them: the
// RunStream call, RunRequest.sparse_inputs, and chains of runs
// (RunRequest.then).
const (
	FeatureRunStream    = "run_stream"
	FeatureSparseInputs = "sparse_inputs"
	FeatureChain        = "chain"
)

// MaxChain bounds the runs of one RunRequest, its own and the chained
// ones: a network's analog layers are a handful, and the bound keeps a
// request of many tiny runs from costing work and memory out of
// proportion to its size.
const MaxChain = 16

// Defaults of Config's limits.
const (
	DefaultWorkers         = 2
	DefaultQueueDepth      = 256
	DefaultSessionQueue    = 16
	DefaultMaxSessions     = 64
	DefaultMaxPrograms     = 64
	DefaultMaxWeights      = 1 << 24 // per session: 16 Mi weights
	DefaultMaxMessageBytes = 64 << 20
	DefaultSessionIdle     = 15 * time.Minute
)

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	// Device is the device served. The server never closes it.
	Device analogmac.Device
	// Name is the server software reported by Describe ("chipd").
	Name string
	// Token, when not empty, is the bearer token every call must carry.
	Token string
	// Logger receives a line per session opened and closed and per failed
	// call; nil: slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives the server's Prometheus collectors.
	Metrics prometheus.Registerer
	// Workers is the number of device calls run at once. A simulated
	// device uses every processor within one call already; more than one
	// worker overlaps one call's network and bookkeeping with another's
	// computation. A physical chip runs one call at a time.
	Workers int
	// QueueDepth bounds the device calls waiting in all, SessionQueue
	// those of one session; beyond, calls fail with RESOURCE_EXHAUSTED.
	QueueDepth, SessionQueue int
	// MaxSessions bounds the open sessions; MaxPrograms the programs and
	// MaxWeights the weights one session holds.
	MaxSessions, MaxPrograms int
	MaxWeights               int64
	// MaxMessageBytes bounds every request and response.
	MaxMessageBytes int
	// SessionIdle is how long a session may go without a call before the
	// server closes it and frees its programs.
	SessionIdle time.Duration
	// NoRunStream leaves RunStream out of the features Describe lists
	// (the call still works): clients then use Run, as with a server
	// that implements only the plain protocol. For tests and comparisons.
	NoRunStream bool
	// NoSparseInputs leaves sparse_inputs out of the features (requests
	// that use them are still answered): clients then send plain inputs.
	NoSparseInputs bool
	// NoChain leaves chain out of the features (requests with chained
	// runs are still answered): clients then send one run per request.
	NoChain bool
}

// Server serves one device over the chip protocol (chip.proto). Create it
// with New, register it on a grpc.Server created with its ServerOptions,
// Drain it before a graceful stop and Close it after.
type Server struct {
	chipv1.UnimplementedChipServer
	cfg      Config
	log      *slog.Logger
	spec     analogmac.Spec
	specJSON string
	token    [sha256.Size]byte
	sched    *scheduler
	health   *health.Server
	m        *metrics
	draining atomic.Bool
	drained  chan struct{} // closed by Drain: ends idle run streams
	drainOne sync.Once
	runs     atomic.Int64 // runs answered, all sessions
	updates  atomic.Int64 // updates applied, all sessions

	mu       sync.Mutex
	sessions map[string]*session
	nSess    int // sessions ever opened: their public names
	stop     chan struct{}
	stopped  sync.Once
}

type session struct {
	id, name, client, peer string
	opened                 time.Time
	log                    *slog.Logger

	mu      sync.Mutex
	progs   map[uint64]*prog
	weights int64 // held by progs
	closed  bool
	active  int // calls in progress
	last    time.Time

	calls, runs, vectors, macs, programs, updates, errs atomic.Int64
}

// prog is a program of a session. mu orders updates against runs; the
// matrix's shape never changes (a Program of the same id makes a new prog).
type prog struct {
	mu      sync.RWMutex
	p       analogmac.Program
	m       analogmac.Matrix // Weights: the current weights, owned
	spare   []int8           // the weights before the last update, reused by the next
	version uint64
	freed   bool
}

// New returns a Server for cfg.Device.
func New(cfg Config) (*Server, error) {
	if cfg.Device == nil {
		return nil, fmt.Errorf("chipserver: no device")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Workers, DefaultWorkers)
	def(&cfg.QueueDepth, DefaultQueueDepth)
	def(&cfg.SessionQueue, DefaultSessionQueue)
	def(&cfg.MaxSessions, DefaultMaxSessions)
	def(&cfg.MaxPrograms, DefaultMaxPrograms)
	def(&cfg.MaxMessageBytes, DefaultMaxMessageBytes)
	if cfg.MaxWeights <= 0 {
		cfg.MaxWeights = DefaultMaxWeights
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.MaxMessageBytes < 1024 {
		return nil, fmt.Errorf("chipserver: MaxMessageBytes %d: want at least 1024", cfg.MaxMessageBytes)
	}
	if cfg.Name == "" {
		cfg.Name = "chipserver"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, sessions: map[string]*session{}, stop: make(chan struct{}), drained: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.spec = analogmac.Describe(cfg.Device)
	b, err := json.Marshal(s.spec)
	if err != nil {
		return nil, fmt.Errorf("chipserver: device spec: %w", err)
	}
	s.specJSON = string(b)
	s.token = sha256.Sum256([]byte(cfg.Token))
	if s.m, err = newMetrics(cfg.Metrics); err != nil {
		return nil, fmt.Errorf("chipserver: metrics: %w", err)
	}
	s.sched = newScheduler(cfg.Workers, cfg.QueueDepth, cfg.SessionQueue, func(d int) { s.m.queue.Set(float64(d)) })
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(chipv1.Chip_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	go s.janitor()
	return s, nil
}

// ServerOptions are the options the grpc.Server must be created with: the
// message size limits and the interceptors that authenticate, refuse calls
// while draining, and count.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.MaxMessageBytes),
		grpc.MaxSendMsgSize(s.cfg.MaxMessageBytes),
		// Windows large enough for a batch's outputs to go out without
		// waiting for the client's window updates.
		grpc.InitialWindowSize(8 << 20), grpc.InitialConnWindowSize(16 << 20),
		grpc.WriteBufferSize(256 << 10), grpc.ReadBufferSize(256 << 10),
		// grpc's proto codec without its clearing of 1 MiB buffers
		// (internal/wirecodec); the same bytes on the wire.
		grpc.ForceServerCodecV2(wirecodec.Codec{}),
		// Handlers on goroutines that live on, whose stacks have grown
		// to what a call needs, instead of a new goroutine per call that
		// grows its stack (runtime.morestack) every time.
		grpc.NumStreamWorkers(uint32(max(s.cfg.Workers, runtime.NumCPU()))),
		grpc.ChainUnaryInterceptor(s.unaryIntercept),
		grpc.ChainStreamInterceptor(s.streamIntercept),
	}
}

// Register registers the chip service and the standard health service.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	chipv1.RegisterChipServer(r, s)
	healthpb.RegisterHealthServer(r, s.health)
}

// NewGRPC returns a grpc.Server serving a new Server for cfg, with opts
// (credentials, for instance) added.
func NewGRPC(cfg Config, opts ...grpc.ServerOption) (*grpc.Server, *Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	g := grpc.NewServer(append(s.ServerOptions(), opts...)...)
	s.Register(g)
	return g, s, nil
}

// Drain marks the server as not serving (health) and refuses new calls
// with UNAVAILABLE; calls in progress, queued ones included, finish. Run
// streams end with UNAVAILABLE once their run in progress, if any, is
// answered, so that a graceful stop need not wait for clients to close
// them.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.health.Shutdown()
	s.drainOne.Do(func() { close(s.drained) })
}

// Close stops the server's work: it waits for queued device calls and
// frees every session's programs. Call it after the grpc.Server stopped.
func (s *Server) Close() {
	s.stopped.Do(func() {
		s.Drain()
		close(s.stop)
		s.sched.Stop()
		s.mu.Lock()
		all := make([]*session, 0, len(s.sessions))
		for _, ss := range s.sessions {
			all = append(all, ss)
		}
		s.mu.Unlock()
		for _, ss := range all {
			s.closeSession(ss, "server stopped")
		}
	})
}

// Counts reports the runs answered and updates applied so far, over all
// sessions.
func (s *Server) Counts() (runs, updates int64) { return s.runs.Load(), s.updates.Load() }

// QueueDepth is the number of device calls waiting.
func (s *Server) QueueDepth() int { return s.sched.Depth() }

// authorized reports whether ctx carries the server's token, comparing in
// constant time (the digests, so that not even the length leaks).
func (s *Server) authorized(ctx context.Context) bool {
	if s.cfg.Token == "" {
		return true
	}
	md, _ := metadata.FromIncomingContext(ctx)
	ok := 0
	for _, v := range md.Get("authorization") {
		t, found := strings.CutPrefix(v, "Bearer ")
		if !found {
			continue
		}
		d := sha256.Sum256([]byte(t))
		ok |= subtle.ConstantTimeCompare(d[:], s.token[:])
	}
	return ok == 1
}

func (s *Server) unaryIntercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	if r, ok := req.(*chipv1.RunRequest); ok {
		// The codec decoded its inputs into a pooled buffer: give it back
		// once the call is over (Run is done with them when it returns).
		defer wirecodec.Release(r)
	}
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	var resp any
	var err error
	switch {
	case !s.authorized(ctx):
		err = status.Error(codes.Unauthenticated, "missing or wrong bearer token")
	case s.draining.Load() && strings.HasPrefix(info.FullMethod, "/"+Protocol+"."):
		err = errDraining
	default:
		s.m.inflight.Inc()
		resp, err = handler(ctx, req)
		s.m.inflight.Dec()
	}
	s.account(ctx, method, start, err)
	return resp, err
}

var errDraining = status.Error(codes.Unavailable, "the server is draining: try again later")

// account counts a call (or a run of a stream) in the metrics, and logs
// an unauthenticated one.
func (s *Server) account(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	s.m.requests.WithLabelValues(method, code.String()).Inc()
	s.m.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.errors.WithLabelValues(method, code.String()).Inc()
		if code == codes.Unauthenticated {
			p, _ := peer.FromContext(ctx)
			s.log.Warn("call refused: unauthenticated", "method", method, "peer", peerAddr(p))
		}
	}
}

func (s *Server) streamIntercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !s.authorized(ss.Context()) {
		method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
		err := status.Error(codes.Unauthenticated, "missing or wrong bearer token")
		s.account(ss.Context(), method, time.Now(), err)
		return err
	}
	return handler(srv, ss)
}

func peerAddr(p *peer.Peer) string {
	if p == nil || p.Addr == nil {
		return ""
	}
	return p.Addr.String()
}

// Describe implements the protocol.
func (s *Server) Describe(ctx context.Context, _ *chipv1.DescribeRequest) (*chipv1.DescribeResponse, error) {
	return &chipv1.DescribeResponse{
		Protocol: Protocol, Device: s.spec.String(), SpecJson: s.specJSON, GainPerSend: s.cfg.Device.Gain(),
		Server: s.cfg.Name,
		Limits: &chipv1.Limits{
			MaxRows: analogmac.MaxRows, MaxCols: analogmac.MaxCols, MaxSends: analogmac.MaxSends, MaxBatch: analogmac.MaxBatch,
			MaxMessageBytes: uint32(s.cfg.MaxMessageBytes), MaxProgramsPerSession: uint32(s.cfg.MaxPrograms),
			MaxWeightsPerSession: uint64(s.cfg.MaxWeights), MaxChain: MaxChain,
		},
		Features: s.features(),
	}, nil
}

// features are the optional parts of the protocol Describe lists.
func (s *Server) features() []string {
	var f []string
	if !s.cfg.NoRunStream {
		f = append(f, FeatureRunStream)
	}
	if !s.cfg.NoSparseInputs {
		f = append(f, FeatureSparseInputs)
	}
	if !s.cfg.NoChain {
		f = append(f, FeatureChain)
	}
	return f
}

// OpenSession implements the protocol.
func (s *Server) OpenSession(ctx context.Context, req *chipv1.OpenSessionRequest) (*chipv1.OpenSessionResponse, error) {
	if len(req.Client) > maxClientName {
		return nil, invalid("client", "%d bytes: at most %d", len(req.Client), maxClientName)
	}
	var raw [16]byte
	rand.Read(raw[:])
	p, _ := peer.FromContext(ctx)
	now := time.Now()
	client := strings.ToValidUTF8(req.Client, "?")
	ss := &session{id: hex.EncodeToString(raw[:]), client: client, peer: peerAddr(p), opened: now, last: now, progs: map[uint64]*prog{}}
	s.mu.Lock()
	if len(s.sessions) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "%d sessions open, the server's limit: try again later", s.cfg.MaxSessions)
	}
	s.nSess++
	ss.name = fmt.Sprintf("s%d", s.nSess)
	s.sessions[ss.id] = ss
	n := len(s.sessions)
	s.mu.Unlock()
	s.m.sessions.Set(float64(n))
	ss.log = s.log.With("session", ss.name, "client", ss.client)
	ss.log.Info("session opened", "peer", ss.peer)
	return &chipv1.OpenSessionResponse{Session: ss.id}, nil
}

// CloseSession implements the protocol.
func (s *Server) CloseSession(ctx context.Context, req *chipv1.CloseSessionRequest) (*chipv1.CloseSessionResponse, error) {
	s.mu.Lock()
	ss := s.sessions[req.Session]
	s.mu.Unlock()
	if ss != nil {
		s.closeSession(ss, "closed by client")
	}
	return &chipv1.CloseSessionResponse{}, nil
}

// closeSession removes ss and frees its programs.
func (s *Server) closeSession(ss *session, reason string) {
	s.mu.Lock()
	if s.sessions[ss.id] != ss {
		s.mu.Unlock()
		return
	}
	delete(s.sessions, ss.id)
	n := len(s.sessions)
	s.mu.Unlock()
	s.m.sessions.Set(float64(n))
	ss.mu.Lock()
	progs := ss.progs
	ss.progs = map[uint64]*prog{}
	ss.weights = 0
	ss.closed = true
	ss.mu.Unlock()
	for _, p := range progs {
		p.free()
	}
	s.sched.Forget(ss)
	s.m.forget(ss.name, ss.client)
	ss.log.Info("session closed", "reason", reason, "calls", ss.calls.Load(), "programs", ss.programs.Load(), "updates", ss.updates.Load(),
		"runs", ss.runs.Load(), "images", ss.vectors.Load(), "macs", ss.macs.Load(), "errors", ss.errs.Load(),
		"duration", time.Since(ss.opened).Round(time.Millisecond).String())
}

// size is the number of weights p holds (its shape never changes).
func (p *prog) size() int64 { return int64(p.m.Rows) * int64(p.m.Cols) }

func (p *prog) free() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.freed {
		p.freed = true
		_ = p.p.Close()
		p.m.Weights, p.spare = nil, nil
	}
}

// janitor closes sessions idle for longer than SessionIdle.
func (s *Server) janitor() {
	every := min(s.cfg.SessionIdle/4, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		var idle []*session
		s.mu.Lock()
		for _, ss := range s.sessions {
			ss.mu.Lock()
			if ss.active == 0 && time.Since(ss.last) > s.cfg.SessionIdle {
				idle = append(idle, ss)
			}
			ss.mu.Unlock()
		}
		s.mu.Unlock()
		for _, ss := range idle {
			s.closeSession(ss, "idle")
		}
	}
}

// begin finds the session of a call and marks it active; end must follow.
func (s *Server) begin(id string) (*session, error) {
	s.mu.Lock()
	ss := s.sessions[id]
	if ss != nil {
		ss.mu.Lock()
		ss.active++
		ss.last = time.Now()
		ss.mu.Unlock()
	}
	s.mu.Unlock()
	if ss == nil {
		return nil, status.Error(codes.NotFound, "session: unknown (the server restarted or the session expired): open a new one")
	}
	ss.calls.Add(1)
	s.m.sessReqs.WithLabelValues(ss.name, ss.client).Inc()
	return ss, nil
}

func (s *Server) end(ss *session, method string, err error) error {
	ss.mu.Lock()
	ss.active--
	ss.last = time.Now()
	ss.mu.Unlock()
	if err != nil {
		ss.errs.Add(1)
		code := status.Code(err)
		// NOT_FOUND and FAILED_PRECONDITION are the protocol's way of
		// asking the client to program again, not faults.
		lvl := slog.LevelWarn
		if code == codes.NotFound || code == codes.FailedPrecondition {
			lvl = slog.LevelInfo
		}
		ss.log.Log(context.Background(), lvl, "call failed", "method", method, "code", code.String(), "error", status.Convert(err).Message())
	}
	return err
}

func (ss *session) lookup(id uint64) (*prog, error) {
	ss.mu.Lock()
	p := ss.progs[id]
	ss.mu.Unlock()
	if p == nil {
		return nil, status.Errorf(codes.NotFound, "program %d: unknown in this session (the server restarted?): program it again", id)
	}
	return p, nil
}

// Program implements the protocol.
func (s *Server) Program(ctx context.Context, req *chipv1.ProgramRequest) (_ *chipv1.ProgramResponse, err error) {
	ss, err := s.begin(req.Session)
	if err != nil {
		return nil, err
	}
	defer func() { err = s.end(ss, "Program", err) }()
	m, err := s.programMatrix(req)
	if err != nil {
		return nil, err
	}
	m.Weights = slices.Clone(m.Weights)
	n := int64(len(m.Weights))
	// Reserve the session's room first; an old program of the same id
	// gives its room back when it is replaced.
	ss.mu.Lock()
	old := ss.progs[req.Program]
	count, held := len(ss.progs), ss.weights
	if old != nil {
		count--
		held -= old.size()
	}
	if count >= s.cfg.MaxPrograms {
		ss.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "the session holds %d programs, the server's limit: free some", s.cfg.MaxPrograms)
	}
	if held+n > s.cfg.MaxWeights {
		ss.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "the session would hold %d weights, the server's limit is %d", held+n, s.cfg.MaxWeights)
	}
	ss.weights += n
	ss.mu.Unlock()
	var p analogmac.Program
	var derr error
	err = s.sched.Do(ctx, ss, float64(n), func() { p, derr = s.cfg.Device.Program(ctx, m) })
	if err == nil {
		err = derr
	}
	if err == nil && p == nil {
		err = fmt.Errorf("device returned no program")
	}
	ss.mu.Lock()
	if err != nil {
		ss.weights -= n
		ss.mu.Unlock()
		return nil, toStatus(err)
	}
	old = ss.progs[req.Program]
	if ss.closed || old == nil && len(ss.progs) >= s.cfg.MaxPrograms {
		// The session ended, or a concurrent Program took the last place.
		ss.weights -= n
		ss.mu.Unlock()
		_ = p.Close()
		if ss.closed {
			return nil, status.Error(codes.NotFound, "session: closed while programming: open a new one")
		}
		return nil, status.Errorf(codes.ResourceExhausted, "the session holds %d programs, the server's limit: free some", s.cfg.MaxPrograms)
	}
	if old != nil {
		ss.weights -= old.size()
	}
	ss.progs[req.Program] = &prog{p: p, m: m, version: req.Version}
	ss.mu.Unlock()
	if old != nil {
		old.free()
	}
	ss.programs.Add(1)
	return &chipv1.ProgramResponse{}, nil
}

// Update implements the protocol.
func (s *Server) Update(ctx context.Context, req *chipv1.UpdateRequest) (_ *chipv1.UpdateResponse, err error) {
	ss, err := s.begin(req.Session)
	if err != nil {
		return nil, err
	}
	defer func() { err = s.end(ss, "Update", err) }()
	p, err := ss.lookup(req.Program)
	if err != nil {
		return nil, err
	}
	all, changes, err := updateChanges(req, p.m.Rows, p.m.Cols)
	if err != nil {
		return nil, err
	}
	cost := float64(len(all) + len(changes))
	var derr error
	err = s.sched.Do(ctx, ss, cost, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.freed {
			derr = status.Errorf(codes.NotFound, "program %d: freed or replaced", req.Program)
			return
		}
		derr = s.applyUpdate(ctx, p, req, all, changes)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, toStatus(err)
	}
	ss.updates.Add(1)
	s.updates.Add(1)
	s.m.updates.Inc()
	return &chipv1.UpdateResponse{}, nil
}

// applyUpdate applies a validated update to p, whose mu is held for
// writing: all the weights, or the changes to the version they apply to;
// changes already applied (p is at req.Version) are not applied again.
func (s *Server) applyUpdate(ctx context.Context, p *prog, req *chipv1.UpdateRequest, all []int8, changes []change) error {
	switch {
	case all == nil && p.version == req.Version:
		return nil // a retry of an update already applied
	case all == nil && p.version != req.BaseVersion:
		return status.Errorf(codes.FailedPrecondition, "program holds version %d, the changes apply to %d: program it again", p.version, req.BaseVersion)
	}
	// The new weights in the buffer the weights before the last update
	// had: the device copies what it needs, and a failed update leaves
	// p.m as it was.
	var w []int8
	if all == nil {
		w = append(p.spare[:0], p.m.Weights...)
		for _, c := range changes {
			w[c.index] = c.value
		}
	} else {
		w = append(p.spare[:0], all...)
	}
	if u, ok := p.p.(analogmac.Updater); ok {
		if err := u.Update(ctx, w); err != nil {
			return err
		}
	} else {
		m := p.m
		m.Weights = w
		np, err := s.cfg.Device.Program(ctx, m)
		if err != nil {
			return err
		}
		_ = p.p.Close()
		p.p = np
	}
	p.spare, p.m.Weights, p.version = p.m.Weights, w, req.Version
	return nil
}

// Run implements the protocol.
func (s *Server) Run(ctx context.Context, req *chipv1.RunRequest) (*chipv1.RunResponse, error) {
	resp, _, err := s.run(ctx, req, false)
	return resp, err
}

// run answers a RunRequest. With pooled, the response's outputs are cut
// from one buffer of wirecodec's pool, which release gives back: the
// caller calls it once the response is marshalled (a stream's SendMsg has
// returned). Otherwise they are allocated, and release is nil.
func (s *Server) run(ctx context.Context, req *chipv1.RunRequest, pooled bool) (_ *chipv1.RunResponse, release func(), err error) {
	ss, err := s.begin(req.Session)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = s.end(ss, "Run", err) }()
	p, err := ss.lookup(req.Program)
	if err != nil {
		return nil, nil, err
	}
	rows, cols := p.m.Rows, p.m.Cols
	x, err := s.runArgs(req, rows, cols)
	if err != nil {
		return nil, nil, err
	}
	var one [1]runStep
	steps := one[:1]
	steps[0] = runStep{p: p, program: req.Program, version: req.Version, batch: int(req.Batch), key: req.NoiseKey, update: req.Update, x: x}
	if err := steps[0].checkUpdate(""); err != nil {
		return nil, nil, err
	}
	if steps, err = s.chainArgs(ss, req, steps); err != nil {
		return nil, nil, err
	}
	// Every run's outputs cut from one buffer, and the chained runs'
	// inputs (converted from the outputs before them) from another.
	var cost float64
	outs, ins := 0, 0
	for i, st := range steps {
		cost += float64(st.macs() + int64(len(st.all)+len(st.changes)))
		outs += st.outputs()
		if i > 0 {
			ins += steps[i-1].outputs()
		}
	}
	var ob []byte
	if pooled {
		buf := wirecodec.Buffer(outs)
		release, ob = func() { wirecodec.PutBuffer(buf) }, *buf
		defer func() {
			if err != nil {
				release()
				release = nil
			}
		}()
	} else {
		ob = make([]byte, outs)
	}
	var ib []byte
	if ins > 0 {
		buf := wirecodec.Buffer(ins)
		defer wirecodec.PutBuffer(buf)
		ib = *buf
	}
	for i := range steps {
		st := &steps[i]
		n := st.outputs()
		st.out, ob = ob[:n:n], ob[n:]
		if i > 0 {
			n = len(steps[i-1].out)
			st.x, ib = ib[:n:n], ib[n:]
		}
	}
	var derr error
	err = s.sched.Do(ctx, ss, cost, func() {
		for i := range steps {
			st := &steps[i]
			if i > 0 {
				analogmac.ConvertReLU(st.x, int8s(steps[i-1].out), st.shift)
			}
			if derr = s.runStep(ctx, ss, st); derr != nil {
				return
			}
		}
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, release, toStatus(err)
	}
	resp := &chipv1.RunResponse{Outputs: steps[0].out}
	for i, st := range steps {
		macs := st.macs()
		ss.runs.Add(1)
		s.runs.Add(1)
		ss.vectors.Add(int64(st.batch))
		ss.macs.Add(macs)
		s.m.macs.Add(float64(macs))
		s.m.sessMACs.WithLabelValues(ss.name, ss.client).Add(float64(macs))
		s.m.sessImages.WithLabelValues(ss.name, ss.client).Add(float64(st.batch))
		if i > 0 {
			resp.ThenOutputs = append(resp.ThenOutputs, st.out)
		}
	}
	return resp, release, nil
}

// runStep is one run of a RunRequest, its own or a chained one (then),
// checked: its program, what the run expects of it, its inputs and room
// for its outputs. A chained run's inputs are filled in when the run
// before it has run.
type runStep struct {
	p       *prog
	program uint64 // its id
	version uint64
	batch   int
	key     uint64
	update  *chipv1.UpdateRequest
	all     []int8 // the update's weights, or
	changes []change
	shift   int // of the converting ReLU that makes x from the previous run's outputs
	x       []uint8
	out     []byte
}

func (st *runStep) macs() int64 { return int64(st.batch) * int64(st.p.m.Rows) * int64(st.p.m.Cols) }

func (st *runStep) outputs() int { return st.batch * st.p.m.Cols }

// checkUpdate decodes and checks st's update, if any, and that the run
// expects the version it makes; fields are named after prefix ("" for a
// request's own run, "then[i]." for a chained one).
func (st *runStep) checkUpdate(prefix string) error {
	u := st.update
	if u == nil {
		return nil
	}
	var err error
	if st.all, st.changes, err = updateChanges(u, st.p.m.Rows, st.p.m.Cols); err != nil {
		return prefixField(err, prefix+"update.")
	}
	if st.version != u.Version {
		return invalid(prefix+"version", "%d: a run with an update expects the update's version %d", st.version, u.Version)
	}
	return nil
}

// runStep applies st's update, if any, and runs st on its program, which
// must still hold the version the request expects.
func (s *Server) runStep(ctx context.Context, ss *session, st *runStep) error {
	p := st.p
	if st.update != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.freed {
			if err := s.applyUpdate(ctx, p, st.update, st.all, st.changes); err != nil {
				return err
			}
			ss.updates.Add(1)
			s.updates.Add(1)
			s.m.updates.Inc()
		}
	} else {
		p.mu.RLock()
		defer p.mu.RUnlock()
	}
	switch {
	case p.freed:
		return status.Errorf(codes.NotFound, "program %d: freed or replaced", st.program)
	case p.version != st.version:
		return status.Errorf(codes.FailedPrecondition, "program %d holds version %d, the run expects %d: program it again", st.program, p.version, st.version)
	}
	return p.p.Run(ctx, int8s(st.out), st.x, st.batch, st.key)
}

// Free implements the protocol.
func (s *Server) Free(ctx context.Context, req *chipv1.FreeRequest) (_ *chipv1.FreeResponse, err error) {
	ss, err := s.begin(req.Session)
	if err != nil {
		return nil, err
	}
	defer func() { err = s.end(ss, "Free", err) }()
	ss.mu.Lock()
	p := ss.progs[req.Program]
	if p != nil {
		delete(ss.progs, req.Program)
		ss.weights -= p.size()
	}
	ss.mu.Unlock()
	if p != nil {
		p.free()
	}
	return &chipv1.FreeResponse{}, nil
}

// RunStream implements the protocol: Run, one request after another on one
// stream. Each request goes through Run (the same checks, scheduling and
// session accounting) and is counted in the metrics as a call of method
// "RunStream"; the first error ends the stream with Run's status.
//
// The runs are served on a goroutine of their own, so that this one can
// end the stream when the server drains while the client is between runs
// (blocked in Recv, a stream cannot otherwise be ended by the server): it
// waits for a run in progress to be answered, then returns UNAVAILABLE. A
// request that arrives after that is dropped unanswered; the client sees
// the stream end with UNAVAILABLE and sends it again elsewhere or later.
func (s *Server) RunStream(st chipv1.Chip_RunStreamServer) error {
	if s.draining.Load() {
		s.account(st.Context(), "RunStream", time.Now(), errDraining)
		return errDraining
	}
	var mu sync.Mutex // held while a run is answered
	ended := false    // set, under mu, when this handler has returned
	done := make(chan error, 1)
	go func() { done <- s.serveRuns(st, &mu, &ended) }()
	select {
	case err := <-done:
		return err
	case <-s.drained:
		mu.Lock()
		ended = true
		mu.Unlock()
		return errDraining
	}
}

func (s *Server) serveRuns(st chipv1.Chip_RunStreamServer, mu *sync.Mutex, ended *bool) error {
	ctx := st.Context()
	for {
		req := new(chipv1.RunRequest)
		if err := st.RecvMsg(req); err != nil {
			if err == io.EOF {
				return nil // the client closed the stream
			}
			return err
		}
		mu.Lock()
		if *ended {
			mu.Unlock()
			wirecodec.Release(req)
			return nil
		}
		err := s.streamRun(ctx, st, req)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// streamRun answers one request of a run stream.
func (s *Server) streamRun(ctx context.Context, st chipv1.Chip_RunStreamServer, req *chipv1.RunRequest) error {
	start := time.Now()
	// The codec decoded the inputs into a pooled buffer (as for Run).
	defer wirecodec.Release(req)
	var resp *chipv1.RunResponse
	var release func()
	var err error
	if s.draining.Load() {
		err = errDraining
	} else {
		s.m.inflight.Inc()
		resp, release, err = s.run(ctx, req, true)
		s.m.inflight.Dec()
	}
	s.account(ctx, "RunStream", start, err)
	if err != nil {
		return err
	}
	// Send marshals resp: its outputs' buffer is free when it returns.
	err = st.Send(resp)
	release()
	return err
}
