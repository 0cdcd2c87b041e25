package mnist

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var quiet = slog.New(slog.DiscardHandler)

// mirror is a local stand-in for a download host. serve decides what each
// request gets; hits counts requests.
type mirror struct {
	*httptest.Server
	hits atomic.Int64
}

func newMirror(t *testing.T, serve func(w http.ResponseWriter, file string)) *mirror {
	m := &mirror{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(1)
		serve(w, strings.TrimPrefix(r.URL.Path, "/data/"))
	}))
	t.Cleanup(m.Close)
	return m
}

// URL is the mirror's base URL, with a path like the real ones have.
func (m *mirror) URL() string { return m.Server.URL + "/data/" }

// serveFiles serves name.gz from files (base name -> bytes as sent).
func serveFiles(files map[string][]byte) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, file string) {
		b, ok := files[strings.TrimSuffix(file, ".gz")]
		if !ok || !strings.HasSuffix(file, ".gz") {
			http.NotFound(w, nil)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}
}

func gzAll(t *testing.T, s synthSet) map[string][]byte {
	m := map[string][]byte{}
	for k, v := range s {
		m[k] = gz(t, v)
	}
	return m
}

func TestDownloadGood(t *testing.T) {
	s := newSynth(5, 3, 0)
	m := newMirror(t, serveFiles(gzAll(t, s)))
	dir := filepath.Join(t.TempDir(), "new", "mnist") // does not exist yet
	var prog bytes.Buffer
	d, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{m.URL()}, Progress: &prog, Logger: quiet, sums: s.sums()})
	if err != nil {
		t.Fatal(err)
	}
	checkSynth(t, d, s)
	if d.Source != dir || d.Name != "mnist" {
		t.Errorf("Data %q in %q, want mnist in %q", d.Name, d.Source, dir)
	}
	want := []string{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("dir holds %v, want exactly %v", got, want)
	}
	for _, f := range want {
		n := len(gz(t, s[strings.TrimSuffix(f, ".gz")]))
		line := "mnist: " + f + " " + strconv.Itoa(n) + "/" + strconv.Itoa(n) + " bytes (100%)"
		if !strings.Contains(prog.String(), line) {
			t.Errorf("progress lacks %q:\n%q", line, prog.String())
		}
	}
	if m.hits.Load() != 4 {
		t.Errorf("%d requests, want 4", m.hits.Load())
	}

	// The files stay: a second load reads them without the network.
	d2, err := Load(context.Background(), Options{Dir: dir, NoDownload: true, Logger: quiet, sums: s.sums()})
	if err != nil {
		t.Fatal(err)
	}
	checkSynth(t, d2, s)
	if m.hits.Load() != 4 {
		t.Errorf("second load made requests")
	}
}

// Bytes that do not match the expected SHA-256 are refused and leave no file.
func TestDownloadCorrupt(t *testing.T) {
	s := newSynth(5, 3, 0)
	bad := synthSet{}
	for k, v := range s {
		bad[k] = bytes.Clone(v)
	}
	bad[trainImages][100] ^= 1 // a pixel: structurally still valid
	m := newMirror(t, serveFiles(gzAll(t, bad)))
	dir := t.TempDir()
	_, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{m.URL()}, Logger: quiet, sums: s.sums()})
	if err == nil {
		t.Fatal("corrupt download accepted")
	}
	if !errors.Is(err, ErrChecksum) || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz: SHA-256") {
		t.Errorf("error does not name the file and the checksum: %v", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("left behind %v", got)
	}
}

// Something that is not gzip/IDX at all (an error page served with 200).
func TestDownloadGarbage(t *testing.T) {
	m := newMirror(t, func(w http.ResponseWriter, file string) {
		io.WriteString(w, "<html>maintenance</html>")
	})
	dir := t.TempDir()
	_, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{m.URL()}, Logger: quiet, NoVerify: true})
	if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz: bad magic number") {
		t.Fatalf("err = %v", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("left behind %v", got)
	}
}

// cutServe announces the whole file, sends half and drops the connection.
func cutServe(files map[string][]byte) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, file string) {
		b := files[strings.TrimSuffix(file, ".gz")]
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection without finishing
	}
}

func TestDownloadCut(t *testing.T) {
	s := newSynth(20, 3, 0)
	m := newMirror(t, cutServe(gzAll(t, s)))
	dir := t.TempDir()
	var prog bytes.Buffer
	_, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{m.URL()}, Logger: quiet, Progress: &prog, sums: s.sums()})
	if err == nil {
		t.Fatal("cut transfer accepted")
	}
	if !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz: download failed") || !strings.Contains(err.Error(), "transfer broken") {
		t.Errorf("err = %v", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("left behind %v", got)
	}
	if strings.Contains(prog.String(), "(100%)") {
		t.Errorf("progress claims completion: %q", prog.String())
	}
}

// The first mirror fails (404 for one test, a cut transfer for the other);
// the second delivers.
func TestDownloadFallback(t *testing.T) {
	s := newSynth(20, 3, 0)
	files := gzAll(t, s)
	for name, first := range map[string]func(http.ResponseWriter, string){
		"404": func(w http.ResponseWriter, _ string) { http.NotFound(w, nil) },
		"cut": cutServe(files),
	} {
		t.Run(name, func(t *testing.T) {
			a := newMirror(t, first)
			b := newMirror(t, serveFiles(files))
			dir := t.TempDir()
			d, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{a.URL(), b.URL()}, Logger: quiet, sums: s.sums()})
			if err != nil {
				t.Fatal(err)
			}
			checkSynth(t, d, s)
			if a.hits.Load() != 4 || b.hits.Load() != 4 {
				t.Errorf("requests: first mirror %d, second %d; want 4 each", a.hits.Load(), b.hits.Load())
			}
			if got := listDir(t, dir); len(got) != 4 {
				t.Errorf("dir holds %v, want the 4 files only", got)
			}
		})
	}
}

// Only the missing files are fetched; present ones are kept.
func TestDownloadOnlyMissing(t *testing.T) {
	s := newSynth(5, 3, 0)
	dir := t.TempDir()
	synthSet{testImages: s[testImages], testLabels: s[testLabels]}.write(t, dir, false)
	m := newMirror(t, serveFiles(gzAll(t, s)))
	d, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{m.URL()}, Logger: quiet, sums: s.sums()})
	if err != nil {
		t.Fatal(err)
	}
	checkSynth(t, d, s)
	if m.hits.Load() != 2 {
		t.Errorf("%d requests, want 2", m.hits.Load())
	}
}

// TestFailedDownloadLeavesNoDirectory: a download into a directory that
// did not exist, when it fails, removes the directories it made.
func TestFailedDownloadLeavesNoDirectory(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	base := t.TempDir()
	dir := filepath.Join(base, "nonexistent", "dir")
	_, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{dead.URL + "/"}, Logger: quiet})
	dead.Close()
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if got := listDir(t, base); len(got) != 0 {
		t.Errorf("left behind %v in %s", got, base)
	}
	// NoDownload never creates anything.
	_, err = Load(context.Background(), Options{Dir: dir, NoDownload: true, Logger: quiet})
	if !errors.Is(err, ErrNotFound) || len(listDir(t, base)) != 0 {
		t.Errorf("NoDownload: %v, left %v", err, listDir(t, base))
	}
}

// TestTestOnlyReadsOnlyTheTestFiles: with TestOnly, the training files are
// neither needed nor read.
func TestTestOnlyReadsOnlyTheTestFiles(t *testing.T) {
	s := newSynth(5, 3, 0)
	dir := t.TempDir()
	synthSet{testImages: s[testImages], testLabels: s[testLabels]}.write(t, dir, true)
	d, err := Load(context.Background(), Options{Dir: dir, TestOnly: true, NoDownload: true, Logger: quiet, sums: s.sums()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train != nil || d.Test.N != 3 {
		t.Errorf("TestOnly gave train %v, test %d samples", d.Train, d.Test.N)
	}
}

// TestStalePartFilesRemoved: a part file left by a killed download is gone
// after the next download of that file.
func TestStalePartFilesRemoved(t *testing.T) {
	s := newSynth(5, 3, 0)
	m := newMirror(t, serveFiles(gzAll(t, s)))
	dir := t.TempDir()
	stale := filepath.Join(dir, ".train-images-idx3-ubyte.gz.12345.part")
	os.WriteFile(stale, []byte("half"), 0o644)
	if _, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{m.URL()}, Logger: quiet, sums: s.sums()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale part file still there: %v", err)
	}
}

// TestHostileIDXRefused: a FIFO or an oversized sparse file in place of an
// IDX file is refused at once.
func TestHostileIDXRefused(t *testing.T) {
	dir := t.TempDir()
	s := newSynth(5, 3, 0)
	s.write(t, dir, false)
	p := filepath.Join(dir, trainImages)
	os.Remove(p)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load(context.Background(), Options{Dir: dir, NoDownload: true, Logger: quiet, sums: s.sums()})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Load blocked on a FIFO")
	}
	os.Remove(p)
	f, _ := os.Create(p)
	f.Truncate(MaxFileBytes + 1)
	f.Close()
	if _, err := Load(context.Background(), Options{Dir: dir, NoDownload: true, Logger: quiet, sums: s.sums()}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("oversized: %v", err)
	}
}

func TestOffline(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/"
	dead.Close() // nothing listens there now
	dir := t.TempDir()
	_, err := Load(context.Background(), Options{Dir: dir, Mirrors: []string{deadURL}, Logger: quiet})
	if err == nil {
		t.Fatal("no error offline")
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("not ErrNotFound: %v", err)
	}
	for _, want := range []string{dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "Put "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("left behind %v", got)
	}
}

func TestNoDownload(t *testing.T) {
	m := newMirror(t, serveFiles(nil))
	_, err := Load(context.Background(), Options{Dir: t.TempDir(), NoDownload: true, Mirrors: []string{m.URL()}, Logger: quiet})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "downloads are off") {
		t.Errorf("err = %v", err)
	}
	if m.hits.Load() != 0 {
		t.Errorf("%d requests with NoDownload", m.hits.Load())
	}
}

func TestDownloadCanceled(t *testing.T) {
	s := newSynth(5, 3, 0)
	m := newMirror(t, serveFiles(gzAll(t, s)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err := Load(ctx, Options{Dir: dir, Mirrors: []string{m.URL()}, Logger: quiet, sums: s.sums()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("left behind %v", got)
	}
}

// The search order with Options.Dir empty: $MNIST_DIR, then ./data/mnist,
// then a download into the first writable of those.
func TestSearchOrder(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	env := filepath.Join(t.TempDir(), "env")
	a, b, c := newSynth(2, 1, 0), newSynth(3, 1, 1), newSynth(4, 1, 2)
	a.write(t, env, true)
	b.write(t, filepath.Join("data", "mnist"), false)
	opt := Options{NoVerify: true, NoDownload: true, Logger: quiet}

	t.Setenv("MNIST_DIR", env)
	d, err := Load(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	checkSynth(t, d, a)

	t.Setenv("MNIST_DIR", "")
	if d, err = Load(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	checkSynth(t, d, b)
	if want := filepath.Join(work, "data", "mnist"); d.Source != want {
		t.Errorf("Dir = %q, want %q", d.Source, want)
	}

	// Options.Dir is the only place looked at.
	if _, err = Load(context.Background(), Options{Dir: t.TempDir(), NoDownload: true, NoVerify: true, Logger: quiet}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Options.Dir empty dir: err = %v", err)
	}

	// Nothing anywhere: download into $MNIST_DIR when it is set and writable,
	// else into ./data/mnist.
	m := newMirror(t, serveFiles(gzAll(t, c)))
	os.RemoveAll(filepath.Join(work, "data"))
	empty := filepath.Join(t.TempDir(), "empty")
	t.Setenv("MNIST_DIR", empty)
	opt = Options{Mirrors: []string{m.URL()}, Logger: quiet, sums: c.sums()}
	if d, err = Load(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	checkSynth(t, d, c)
	if len(listDir(t, empty)) != 4 || d.Source != empty {
		t.Errorf("download went to %q; $MNIST_DIR holds %v", d.Source, listDir(t, empty))
	}
	t.Setenv("MNIST_DIR", "")
	if d, err = Load(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if len(listDir(t, filepath.Join(work, "data", "mnist"))) != 4 {
		t.Errorf("download went to %q, not ./data/mnist", d.Source)
	}

	// The offline error names every place searched.
	t.Setenv("MNIST_DIR", "")
	os.RemoveAll(filepath.Join(work, "data"))
	_, err = Load(context.Background(), Options{NoDownload: true, Logger: quiet})
	for _, want := range []string{"$MNIST_DIR (not set)", filepath.Join(work, "data", "mnist")} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestFashionSearchesDebianDir(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("FASHION_MNIST_DIR", "")
	_, err := Load(context.Background(), Options{Dataset: "fashion-mnist", NoDownload: true, Logger: quiet, Dir: ""})
	if _, serr := os.Stat("/usr/share/datasets/fashion-mnist"); serr == nil {
		if err != nil {
			t.Fatalf("Debian's Fashion-MNIST is installed but: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "/usr/share/datasets/fashion-mnist") || !strings.Contains(err.Error(), "$FASHION_MNIST_DIR (not set)") {
		t.Errorf("error does not list the Fashion-MNIST places: %v", err)
	}
}

func TestLoadChecks(t *testing.T) {
	for _, c := range []struct {
		name     string
		noVerify bool // else the checksum would catch it first
		edit     func(s synthSet)
		want     string
	}{
		{"label count", true, func(s synthSet) { s[trainLabels] = idxLabels(1, 2, 3) }, "train-labels-idx1-ubyte: holds 3 labels: expected 5 to match the images in train-images-idx3-ubyte"},
		{"image size", true, func(s synthSet) { s[testImages] = idxImages(3, 27, 28, 0) }, "t10k-images-idx3-ubyte: image size 27x28: expected 28x28"},
		{"swapped", false, func(s synthSet) { s[testImages], s[testLabels] = s[testLabels], s[testImages] }, "t10k-images-idx3-ubyte: bad magic number: expected 2051 (images), found 2049"},
		{"checksum", false, func(s synthSet) { s[testLabels][9] = (s[testLabels][9] + 1) % 10 }, "t10k-labels-idx1-ubyte: SHA-256 of the decompressed contents is"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSynth(5, 3, 0)
			sums := s.sums()
			c.edit(s)
			dir := t.TempDir()
			s.write(t, dir, false)
			_, err := Load(context.Background(), Options{Dir: dir, NoDownload: true, NoVerify: c.noVerify, Logger: quiet, sums: sums})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
	if _, err := Load(context.Background(), Options{Dataset: "cifar"}); err == nil || !strings.Contains(err.Error(), `"cifar"`) {
		t.Errorf("unknown dataset: %v", err)
	}
}
