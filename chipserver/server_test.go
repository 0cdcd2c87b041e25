package chipserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	chipv1 "github.com/analogloop/analogloop/chipproto/v1"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
	"github.com/analogloop/analogloop/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var quiet = slog.New(slog.DiscardHandler)

func chip(t testing.TB, seed uint64) *analogmac.Counter {
	d, err := analogmac.NewDevice(analogmac.KindChip, seed)
	if err != nil {
		t.Fatal(err)
	}
	return analogmac.NewCounter(d)
}

// client is a raw protocol client, to test the server call by call.
func client(t testing.TB, addr string, opts ...grpc.DialOption) (chipv1.ChipClient, *grpc.ClientConn) {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return chipv1.NewChipClient(conn), conn
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func open(t testing.TB, ctx context.Context, c chipv1.ChipClient) string {
	t.Helper()
	r, err := c.OpenSession(ctx, &chipv1.OpenSessionRequest{Client: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return r.Session
}

func code(err error) codes.Code { return status.Code(err) }

// TestAuthentication: without the token, or with a wrong one, every call
// (the health service's too) is refused with UNAUTHENTICATED and the
// device sees nothing; with it, calls go through.
func TestAuthentication(t *testing.T) {
	dev := chip(t, 1)
	srv := chipservertest.Start(t, "", chipserver.Config{Device: dev, Token: "s3cret-token"})
	c, conn := client(t, srv.Addr)
	good := withToken(context.Background(), "s3cret-token")
	sess := open(t, good, c)
	w := []byte{1, 2, 3, 4}
	for name, ctx := range map[string]context.Context{
		"no token":    context.Background(),
		"wrong token": withToken(context.Background(), "s3cret-tokeN"),
		"prefix only": withToken(context.Background(), "s3cret"),
		"not bearer":  metadata.AppendToOutgoingContext(context.Background(), "authorization", "s3cret-token"),
	} {
		calls := map[string]error{}
		_, calls["Describe"] = c.Describe(ctx, &chipv1.DescribeRequest{})
		_, calls["OpenSession"] = c.OpenSession(ctx, &chipv1.OpenSessionRequest{})
		_, calls["Program"] = c.Program(ctx, &chipv1.ProgramRequest{Session: sess, Program: 1, Rows: 2, Cols: 2, Sends: 1, Weights: w})
		_, calls["Run"] = c.Run(ctx, &chipv1.RunRequest{Session: sess, Program: 1, Batch: 1, Inputs: []byte{1, 1}})
		_, calls["CloseSession"] = c.CloseSession(ctx, &chipv1.CloseSessionRequest{Session: sess})
		_, calls["Health"] = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		for call, err := range calls {
			if code(err) != codes.Unauthenticated {
				t.Errorf("%s: %s: %v, want Unauthenticated", name, call, err)
			}
		}
	}
	if n := dev.Counts(); n.Programs != 0 || n.Runs != 0 {
		t.Errorf("unauthenticated calls reached the device: %+v", n)
	}
	if _, err := c.Program(good, &chipv1.ProgramRequest{Session: sess, Program: 1, Rows: 2, Cols: 2, Sends: 1, Weights: w}); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	if r, err := c.Run(good, &chipv1.RunRequest{Session: sess, Program: 1, Batch: 1, Inputs: []byte{1, 1}}); err != nil || len(r.Outputs) != 2 {
		t.Fatalf("with the token: %v", err)
	}
	// The remote device: a wrong token fails at once, not after the wait.
	start := time.Now()
	_, err := remote.Dial(context.Background(), remote.Options{Addr: srv.Addr, Token: "wrong", Wait: time.Minute, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "refused the token") || time.Since(start) > 10*time.Second {
		t.Errorf("remote.Dial with a wrong token: %v after %v", err, time.Since(start))
	}
}

// certs writes a CA and a server certificate for 127.0.0.1 signed by it
// into dir, and returns the paths of the CA, the certificate and the key.
func certs(t *testing.T, dir, name string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "chipd"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write(name+"-ca.pem", "CERTIFICATE", caDER), write(name+"-cert.pem", "CERTIFICATE", srvDER), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// TestTLS: a server with a certificate from a CA generated here serves a
// client that trusts that CA, and no client that does not or that talks
// plaintext.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := certs(t, dir, "good")
	otherCA, _, _ := certs(t, dir, "other")
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1), Token: "tok"},
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{kp}})))
	ctx := context.Background()
	cfg, err := remote.TLSConfig(ca, "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Dial(ctx, remote.Options{Addr: srv.Addr, Token: "tok", TLS: cfg, Wait: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatalf("client trusting the CA: %v", err)
	}
	p, err := d.Program(ctx, analogmac.Matrix{Rows: 1, Cols: 1, Weights: []int8{5}, Sends: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, make([]int8, 1), []uint8{3}, 1, 1); err != nil {
		t.Fatal(err)
	}
	d.Close()
	bad, _ := remote.TLSConfig(otherCA, "")
	start := time.Now()
	if _, err := remote.Dial(ctx, remote.Options{Addr: srv.Addr, Token: "tok", TLS: bad, Wait: time.Minute, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("a client trusting another CA: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("a certificate error took %v to report: it is not worth waiting for", el)
	}
	if _, err := remote.Dial(ctx, remote.Options{Addr: srv.Addr, Token: "tok", Wait: 500 * time.Millisecond, Logger: quiet}); err == nil {
		t.Error("a plaintext client connected to the TLS server")
	}
}

// TestInvalidArgumentNamesField: every malformed or out-of-range request
// is refused with INVALID_ARGUMENT naming the field, nothing reaches the
// device, and the server goes on serving.
func TestInvalidArgumentNamesField(t *testing.T) {
	dev := chip(t, 1)
	srv := chipservertest.Start(t, "", chipserver.Config{Device: dev, MaxMessageBytes: 1 << 16})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	s := open(t, ctx, c)
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 2, Cols: 3, Sends: 1, Weights: make([]byte, 6), Version: 1}); err != nil {
		t.Fatal(err)
	}
	y0, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 1, Batch: 1, Inputs: []byte{31, 31}})
	if err != nil {
		t.Fatal(err)
	}
	before := dev.Counts()
	w6 := func(i int, v byte) []byte { b := make([]byte, 6); b[i] = v; return b }
	cases := []struct {
		field string
		call  func() error
	}{
		{"program", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Rows: 2, Cols: 3, Sends: 1, Weights: make([]byte, 6)})
			return err
		}},
		{"rows", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 0, Cols: 3, Sends: 1})
			return err
		}},
		{"cols", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 1, Cols: 1 << 20, Sends: 1})
			return err
		}},
		{"sends", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 2, Cols: 3, Sends: 0, Weights: make([]byte, 6)})
			return err
		}},
		{"weights", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 2, Cols: 3, Sends: 1, Weights: make([]byte, 5)})
			return err
		}},
		{"weights[1][2]", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 2, Cols: 3, Sends: 1, Weights: w6(5, 64)})
			return err
		}},
		{"weights[0][1]", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 2, Cols: 3, Sends: 1, Weights: w6(1, 0x80)})
			return err
		}},
		{"placement.column", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 2, Cols: 300, Sends: 1, Weights: make([]byte, 600), Placement: &chipv1.Placement{Column: 300}})
			return err
		}},
		{"placement.row", func() error {
			_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 2, Rows: 2, Cols: 3, Sends: 1, Weights: make([]byte, 6), Placement: &chipv1.Placement{Row: 127}})
			return err
		}},
		{"all[0][0]", func() error {
			_, err := c.Update(ctx, &chipv1.UpdateRequest{Session: s, Program: 1, Version: 2, Weights: &chipv1.UpdateRequest_All{All: w6(0, 100)}})
			return err
		}},
		{"changes.gaps[1]", func() error {
			_, err := c.Update(ctx, &chipv1.UpdateRequest{Session: s, Program: 1, BaseVersion: 1, Version: 2,
				Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{1, 4}, Values: []byte{1, 1}}}})
			return err
		}},
		{"changes.values[0]", func() error {
			_, err := c.Update(ctx, &chipv1.UpdateRequest{Session: s, Program: 1, BaseVersion: 1, Version: 2,
				Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{1}, Values: []byte{0xc0}}}})
			return err
		}},
		{"weights", func() error {
			_, err := c.Update(ctx, &chipv1.UpdateRequest{Session: s, Program: 1, BaseVersion: 1, Version: 2})
			return err
		}},
		{"batch", func() error {
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 1, Batch: 0})
			return err
		}},
		{"update.changes.values[0]", func() error {
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 2, Batch: 1, Inputs: []byte{1, 1},
				Update: &chipv1.UpdateRequest{BaseVersion: 1, Version: 2, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{1}, Values: []byte{0xc0}}}}})
			return err
		}},
		{"version", func() error {
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 3, Batch: 1, Inputs: []byte{1, 1},
				Update: &chipv1.UpdateRequest{BaseVersion: 1, Version: 2, Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{1}, Values: []byte{1}}}}})
			return err
		}},
		{"batch", func() error { // outputs beyond the message limit
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 1, Batch: 30000, Inputs: make([]byte, 60000)})
			return err
		}},
		{"inputs", func() error {
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 1, Batch: 2, Inputs: make([]byte, 3)})
			return err
		}},
		{"inputs[1][0]", func() error {
			_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 1, Batch: 2, Inputs: []byte{0, 31, 32, 0}})
			return err
		}},
		{"client", func() error {
			_, err := c.OpenSession(ctx, &chipv1.OpenSessionRequest{Client: strings.Repeat("x", 300)})
			return err
		}},
	}
	for _, tc := range cases {
		err := tc.call()
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), tc.field+": ") {
			t.Errorf("%s: got %v, want InvalidArgument naming it", tc.field, err)
			continue
		}
		var named string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				named = br.FieldViolations[0].Field
			}
		}
		if named != tc.field {
			t.Errorf("%s: BadRequest names %q", tc.field, named)
		}
	}
	if after := dev.Counts(); after != before {
		t.Errorf("refused requests reached the device: %+v then %+v", before, after)
	}
	// Nothing was clipped or half applied: the program still holds its
	// zeros and runs as before.
	r, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: 1, Batch: 1, Inputs: []byte{31, 31}})
	if err != nil || string(r.Outputs) != string(y0.Outputs) {
		t.Errorf("after the refusals: %v %v, before %v", r, err, y0)
	}
	// A message beyond the limit never reaches the handler.
	_, err = c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 3, Rows: 300, Cols: 300, Sends: 1, Weights: make([]byte, 90000)})
	if code(err) != codes.ResourceExhausted {
		t.Errorf("oversized message: %v", err)
	}
}

// TestProtocolRecovery: the codes a client recovers from: NOT_FOUND for an
// unknown session or program, FAILED_PRECONDITION for a sparse update or a
// run on another version; an update repeated after it was applied
// succeeds without effect; programming the same id again replaces it.
func TestProtocolRecovery(t *testing.T) {
	srv := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1)})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	if _, err := c.Run(ctx, &chipv1.RunRequest{Session: "gone", Program: 1, Batch: 1}); code(err) != codes.NotFound {
		t.Errorf("unknown session: %v", err)
	}
	s := open(t, ctx, c)
	if _, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Batch: 1}); code(err) != codes.NotFound {
		t.Errorf("unknown program: %v", err)
	}
	prog := func(w []byte, v uint64) {
		if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 1, Cols: 2, Sends: 40, Weights: w, Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(v uint64) ([]byte, error) {
		r, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Version: v, Batch: 1, Inputs: []byte{31}})
		return r.GetOutputs(), err
	}
	prog([]byte{10, 20}, 1)
	y1, err := run(1)
	if err != nil {
		t.Fatal(err)
	}
	sparse := &chipv1.UpdateRequest{Session: s, Program: 1, BaseVersion: 1, Version: 2,
		Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{1}, Values: []byte{30}}}}
	for i := range 2 { // the second is a retry
		if _, err := c.Update(ctx, sparse); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	y, err := run(2)
	if err != nil || y[0] != y1[0] || y[1] == y1[1] {
		t.Errorf("outputs %v before and %v after changing weight 1 (%v)", y1, y, err)
	}
	if _, err := run(1); code(err) != codes.FailedPrecondition {
		t.Errorf("run of an old version: %v", err)
	}
	stale := &chipv1.UpdateRequest{Session: s, Program: 1, BaseVersion: 1, Version: 3,
		Weights: &chipv1.UpdateRequest_Changes{Changes: &chipv1.Changes{Gaps: []uint32{0}, Values: []byte{1}}}}
	if _, err := c.Update(ctx, stale); code(err) != codes.FailedPrecondition {
		t.Errorf("changes to an old version: %v", err)
	}
	// Replacing by id: the same weights and version give the same outputs.
	prog([]byte{10, 30}, 2)
	y2, err := run(2)
	if err != nil || string(y2) != string(y) {
		t.Errorf("after programming the same weights again: %v %v, want %v", y2, err, y)
	}
	if _, err := c.Free(ctx, &chipv1.FreeRequest{Session: s, Program: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(2); code(err) != codes.NotFound {
		t.Errorf("run of a freed program: %v", err)
	}
	if _, err := c.CloseSession(ctx, &chipv1.CloseSessionRequest{Session: s}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 1, Cols: 2, Sends: 1, Weights: []byte{1, 1}}); code(err) != codes.NotFound {
		t.Errorf("program in a closed session: %v", err)
	}
}

// TestLimits: the tables are bounded: sessions, programs and weights per
// session answer RESOURCE_EXHAUSTED beyond their limits.
func TestLimits(t *testing.T) {
	srv := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1), MaxSessions: 2, MaxPrograms: 2, MaxWeights: 10})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	s := open(t, ctx, c)
	open(t, ctx, c)
	if _, err := c.OpenSession(ctx, &chipv1.OpenSessionRequest{}); code(err) != codes.ResourceExhausted {
		t.Errorf("third session: %v", err)
	}
	p := func(id uint64, n int) error {
		_, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: id, Rows: 1, Cols: uint32(n), Sends: 1, Weights: make([]byte, n)})
		return err
	}
	if err := p(1, 4); err != nil {
		t.Fatal(err)
	}
	if err := p(2, 7); code(err) != codes.ResourceExhausted {
		t.Errorf("11 weights: %v", err)
	}
	if err := p(2, 6); err != nil {
		t.Fatal(err)
	}
	if err := p(3, 1); code(err) != codes.ResourceExhausted {
		t.Errorf("third program: %v", err)
	}
	if err := p(2, 5); err != nil { // replacing gives the old room back
		t.Errorf("replacing program 2: %v", err)
	}
}

// TestFairAndBounded: with one worker busy, a session that floods the
// queue is served in turn with a session that sends one run: the light
// session's run is the next to start, not the last; a session's share of
// the queue is bounded (RESOURCE_EXHAUSTED), and the queue depth is
// exported.
func TestFairAndBounded(t *testing.T) {
	b := &chipservertest.Blocking{Device: chip(t, 1), Started: make(chan uint64, 100), Release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	srv := chipservertest.Start(t, "", chipserver.Config{Device: b, Workers: 1, SessionQueue: 4, QueueDepth: 100, Metrics: reg})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	busy, light := open(t, ctx, c), open(t, ctx, c)
	for _, s := range []string{busy, light} {
		if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 1, Cols: 1, Sends: 1, Weights: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(s string, key uint64) error {
		_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Batch: 1, Inputs: []byte{1}, NoiseKey: key})
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	wg.Go(func() { errs <- run(busy, 100) })
	<-b.Started // the worker is busy with run 100
	for k := range 4 {
		wg.Go(func() { errs <- run(busy, uint64(101+k)) })
	}
	for srv.Server.QueueDepth() < 4 {
		time.Sleep(time.Millisecond)
	}
	if err := run(busy, 999); code(err) != codes.ResourceExhausted {
		t.Errorf("fifth queued run of one session: %v, want ResourceExhausted", err)
	}
	wg.Go(func() { errs <- run(light, 200) })
	for srv.Server.QueueDepth() < 5 {
		time.Sleep(time.Millisecond)
	}
	h := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer h.Close()
	metrics := scrape(t, h.URL)
	if !strings.Contains(metrics, "chipd_queue_depth 5\n") {
		t.Errorf("metrics do not show the queue of 5:\n%s", metrics)
	}
	var order []uint64
	for range 5 {
		b.Release <- struct{}{}
		order = append(order, <-b.Started)
	}
	b.Release <- struct{}{}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if order[0] != 200 {
		t.Errorf("runs started in the order %v: the light session's run (200) should come right after the one in progress", order)
	}
	metrics = scrape(t, h.URL)
	for _, want := range []string{
		`chipd_requests_total{code="ResourceExhausted",method="Run"} 1`,
		`chipd_errors_total{code="ResourceExhausted",method="Run"} 1`,
		`chipd_requests_total{code="OK",method="Run"} 6`,
		`chipd_session_macs_total{client="test",session="s1"} 5`,
		`chipd_session_requests_total{client="test",session="s2"} 2`,
		`chipd_request_duration_seconds_count{method="Run"} 7`,
		`chipd_sessions 2`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDrainAndHealth: the health service says SERVING; after Drain it says
// NOT_SERVING, a call in progress finishes, and new calls get UNAVAILABLE.
func TestDrainAndHealth(t *testing.T) {
	b := &chipservertest.Blocking{Device: chip(t, 1), Started: make(chan uint64, 1), Release: make(chan struct{})}
	srv := chipservertest.Start(t, "", chipserver.Config{Device: b})
	c, conn := client(t, srv.Addr)
	ctx := context.Background()
	hc := healthpb.NewHealthClient(conn)
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "analogloop.chip.v1.Chip"}); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", r, err)
	}
	s := open(t, ctx, c)
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 1, Cols: 1, Sends: 1, Weights: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Batch: 1, Inputs: []byte{1}})
		done <- err
	}()
	<-b.Started
	srv.Server.Drain()
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health while draining: %v %v", r, err)
	}
	if _, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Batch: 1, Inputs: []byte{1}}); code(err) != codes.Unavailable {
		t.Errorf("new call while draining: %v", err)
	}
	close(b.Release)
	if err := <-done; err != nil {
		t.Errorf("the call in progress: %v", err)
	}
}

// TestIdleSessionsClosed: a session without calls for SessionIdle is
// closed and its programs freed; its client gets NOT_FOUND.
func TestIdleSessionsClosed(t *testing.T) {
	srv := chipservertest.Start(t, "", chipserver.Config{Device: chip(t, 1), SessionIdle: 100 * time.Millisecond})
	c, _ := client(t, srv.Addr)
	ctx := context.Background()
	s := open(t, ctx, c)
	if _, err := c.Program(ctx, &chipv1.ProgramRequest{Session: s, Program: 1, Rows: 1, Cols: 1, Sends: 1, Weights: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := c.Run(ctx, &chipv1.RunRequest{Session: s, Program: 1, Batch: 1, Inputs: []byte{1}}); code(err) != codes.NotFound {
		t.Errorf("run in an idle session: %v", err)
	}
}
