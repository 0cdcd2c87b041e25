package chipservertest

import (
	"log/slog"
	"net"
	"testing"

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
