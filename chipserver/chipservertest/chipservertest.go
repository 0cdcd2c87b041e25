package chipservertest

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chipserver"
	"google.golang.org/grpc"
)

// Server is a chip server listening on a loopback port.
type Server struct {
	Addr   string // host:port
	Server *chipserver.Server
	GRPC   *grpc.Server
	lis    net.Listener
	done   chan struct{}
}

// Start serves cfg on addr ("" : a free loopback port) until Stop or the
// end of the test. cfg.Logger nil discards the server's log.
func Start(t testing.TB, addr string, cfg chipserver.Config, opts ...grpc.ServerOption) *Server {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g, s, err := chipserver.NewGRPC(cfg, opts...)
	if err != nil {
		lis.Close()
		t.Fatal(err)
	}
	srv := &Server{Addr: lis.Addr().String(), Server: s, GRPC: g, lis: lis, done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		_ = g.Serve(lis)
	}()
	t.Cleanup(srv.Stop)
	return srv
}

// Stop ends the server at once, as a crash would: connections are cut and
// every session and program is lost.
func (s *Server) Stop() {
	s.GRPC.Stop()
	<-s.done
	s.Server.Close()
}

// Blocking is a device whose runs wait until Release lets them go (a send
// lets one go, closing it lets all go) or their context ends: for tests of
// what a server or client does while runs are in progress.
type Blocking struct {
	analogmac.Device
	Started chan uint64 // if not nil, receives each run's noise key as it starts
	Release chan struct{}
}

// Program implements analogmac.Device.
func (b *Blocking) Program(ctx context.Context, m analogmac.Matrix) (analogmac.Program, error) {
	p, err := b.Device.Program(ctx, m)
	return &blockingProgram{p, b}, err
}

type blockingProgram struct {
	analogmac.Program
	b *Blocking
}

func (p *blockingProgram) Run(ctx context.Context, dst []int8, x []uint8, batch int, key uint64) error {
	if p.b.Started != nil {
		p.b.Started <- key
	}
	select {
	case <-p.b.Release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.Program.Run(ctx, dst, x, batch, key)
}
