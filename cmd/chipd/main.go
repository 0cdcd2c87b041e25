package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/internal/cli"
	"github.com/analogloop/analogloop/internal/deviceflags"
	"github.com/analogloop/analogloop/internal/token"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr, nil))
}

// loopback reports whether every address host can mean is a loopback one.
func loopback(host string) bool {
	if host == "" {
		return false // every interface
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	if host == "localhost" {
		return true
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// run is chipd; ready, when set, receives the listening address once
// chipd serves (for tests). It returns the exit status.
func run(args []string, stderr io.Writer, ready chan<- string) int {
	fs := flag.NewFlagSet("chipd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [flags]\n\n"+
			"Serves one device over the analogloop chip protocol (gRPC, chipproto/v1/chip.proto)\n"+
			"for cmd/train -device remote -remote ADDR. See docs/remote.md.\n\nflags:\n", cli.Command("chipd", nil))
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:7070", "host:port to serve on; a non-loopback address needs a token")
	var dev deviceflags.Flags
	dev.RegisterLocal(fs, analogmac.KindChip, 1)
	tokenFile := fs.String("token-file", "", "file holding the bearer token every call must carry (default: $"+token.Env+"; none: no authentication, loopback only)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) to serve TLS with; needs -tls-key")
	tlsKey := fs.String("tls-key", "", "PEM private key of -tls-cert")
	metricsAddr := fs.String("metrics-addr", "", "host:port serving Prometheus metrics at /metrics (default: none)")
	var cfg chipserver.Config
	fs.IntVar(&cfg.Workers, "workers", chipserver.DefaultWorkers, "device calls run at once")
	fs.IntVar(&cfg.QueueDepth, "queue", chipserver.DefaultQueueDepth, "device calls that may wait in all; beyond, calls get RESOURCE_EXHAUSTED")
	fs.IntVar(&cfg.SessionQueue, "session-queue", chipserver.DefaultSessionQueue, "device calls one session may have waiting")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", chipserver.DefaultMaxSessions, "open sessions at most")
	fs.IntVar(&cfg.MaxPrograms, "max-programs", chipserver.DefaultMaxPrograms, "programs one session may hold")
	fs.Int64Var(&cfg.MaxWeights, "max-weights", chipserver.DefaultMaxWeights, "weights one session's programs may hold")
	fs.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", chipserver.DefaultMaxMessageBytes, "largest request or response")
	fs.DurationVar(&cfg.SessionIdle, "session-idle", chipserver.DefaultSessionIdle, "a session without calls for this long is closed and its programs freed")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM, how long calls in progress may take to finish")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "chipd: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return bad("unexpected arguments %q: all options are flags (-h lists them)", fs.Args())
	}
	if err := dev.Check(); err != nil {
		return bad("%v", err)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return bad("-addr %s: %v", *addr, err)
	}
	tok, err := token.Load(*tokenFile)
	if err != nil {
		return bad("%v", err)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return bad("-tls-cert and -tls-key go together")
	}
	if !loopback(host) && tok == "" {
		return bad("-addr %s is not a loopback address: chipd serves other machines only with a token (-token-file or $%s), and should with TLS (-tls-cert, -tls-key)", *addr, token.Env)
	}
	cfg.Token = tok
	cfg.Name = "chipd"
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = log
	if !loopback(host) && *tlsCert == "" {
		log.Warn("serving beyond loopback without TLS: the token and the data travel in clear", "addr", *addr)
	}
	var opts []grpc.ServerOption
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return bad("-tls-cert/-tls-key: %v", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	}
	device, err := dev.Open(context.Background(), log)
	if err != nil {
		return bad("%v", err)
	}
	defer device.Close()
	cfg.Device = device
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Metrics = reg
	g, srv, err := chipserver.NewGRPC(cfg, opts...)
	if err != nil {
		return bad("%v", err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "chipd: %v\n", err)
		return 1
	}
	var metrics *http.Server
	if *metricsAddr != "" {
		ml, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			lis.Close()
			fmt.Fprintf(stderr, "chipd: -metrics-addr: %v\n", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go metrics.Serve(ml)
		log.Info("metrics", "addr", ml.Addr().String(), "path", "/metrics")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	log.Info("serving", "addr", lis.Addr().String(), "device", analogmac.Describe(device).String(), "protocol", chipserver.Protocol,
		"tls", *tlsCert != "", "token", tok != "", "workers", cfg.Workers)
	if ready != nil {
		ready <- lis.Addr().String()
	}
	code := 0
	select {
	case err := <-served:
		log.Error("serving stopped", "error", err)
		code = 1
	case s := <-sig:
		log.Info("draining: refusing new calls, finishing those in progress", "signal", s.String(), "timeout", drainTimeout.String())
		srv.Drain()
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(*drainTimeout):
			log.Warn("drain timeout: stopping calls still in progress")
			g.Stop()
			code = 1
		}
	}
	srv.Close()
	if metrics != nil {
		metrics.Close()
	}
	log.Info("stopped", "exit", code)
	return code
}
