package mnist

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/analogloop/analogloop/datasets"
	"github.com/analogloop/analogloop/internal/inputfile"
)

// Both known datasets have 28x28 single-channel images in 10 classes; Load
// refuses anything else, so a network built for them can rely on it.
const (
	Rows    = 28
	Cols    = 28
	Classes = 10
)

// Options says which dataset to load and from where. The zero value loads
// MNIST with verification, searching the default places and downloading
// into ./data/mnist when the files are nowhere.
type Options struct {
	Dataset    string // "mnist" (default when empty) or "fashion-mnist"
	Dir        string // when set, look only there (and download into it when files are missing)
	NoVerify   bool   // skip the SHA-256 check (for custom IDX data); verification is on by default
	NoDownload bool
	// TestOnly loads only the test split (Data.Train is nil): evaluating a
	// network needs no training images.
	TestOnly bool
	Mirrors  []string     // base URLs tried in order; default: the built-in mirrors of the dataset
	Progress io.Writer    // download progress; nil = none
	Logger   *slog.Logger // nil = slog.Default()
	Client   *http.Client // nil = a client with DefaultTransport and a 10-minute timeout

	// sums replaces the dataset's SHA-256 table; tests use it to let
	// synthetic files pass verification.
	sums map[string]string
}

// place is one directory searched for the files.
type place struct {
	dir    string // absolute; empty when the environment variable is unset
	label  string // how it is named in messages
	target bool   // downloads may go here
}

// places lists the directories searched when Options.Dir is empty, in order.
func (ds *dataset) places() []place {
	var ps []place
	env := os.Getenv(ds.envVar)
	p := place{label: "$" + ds.envVar + " (not set)", target: true}
	if env != "" {
		p.dir = absDir(env)
		p.label = "$" + ds.envVar + "=" + p.dir
	}
	ps = append(ps, p)
	def := absDir(filepath.Join("data", ds.name))
	ps = append(ps, place{dir: def, label: def, target: true})
	for _, d := range ds.extraDirs {
		ps = append(ps, place{dir: d, label: d})
	}
	return ps
}

func absDir(d string) string {
	if a, err := filepath.Abs(d); err == nil {
		return a
	}
	return d
}

// findFile returns the path of base (plain, preferred as it is cheaper to
// read, or base.gz) in dir, or "" when neither exists. Something that is
// not a regular file counts as found, so that reading it fails with a
// message saying what it is.
func findFile(dir, base string) string {
	for _, name := range []string{base, base + ".gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func missingFiles(dir string, bases []string) []string {
	var m []string
	for _, base := range bases {
		if findFile(dir, base) == "" {
			m = append(m, base)
		}
	}
	return m
}

func magicOf(base string) uint32 {
	if strings.Contains(base, "-images-") {
		return MagicImages
	}
	return MagicLabels
}

// loadError carries a sentinel kind (ErrNotFound) and the cause, if any,
// without adding their text.
type loadError struct {
	msg   string
	kind  error
	cause error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// Load finds, validates and loads the train and test splits of a dataset.
//
// With Options.Dir empty it takes the first directory holding all four
// files among $MNIST_DIR (or $FASHION_MNIST_DIR), ./data/<dataset> and, for
// Fashion-MNIST, /usr/share/datasets/fashion-mnist. When none does and
// downloads are allowed, it downloads the missing files into the first
// writable of $MNIST_DIR and ./data/<dataset>. Every file is checked as
// described in the package documentation before Load returns it.
func Load(ctx context.Context, opt Options) (*datasets.Data, error) {
	name := strings.ToLower(opt.Dataset)
	if name == "" {
		name = "mnist"
	}
	ds, ok := knownDatasets[name]
	if !ok {
		return nil, fmt.Errorf("mnist: unknown dataset %q: expected \"mnist\" or \"fashion-mnist\"", opt.Dataset)
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	sums := ds.sha256
	if opt.sums != nil {
		sums = opt.sums
	}
	if opt.NoVerify {
		sums = nil
	}

	bases := fileNames[:]
	if opt.TestOnly {
		bases = fileNames[2:]
	}
	var places []place
	if opt.Dir != "" {
		d := absDir(opt.Dir)
		places = []place{{dir: d, label: d + " (the directory given)", target: true}}
	} else {
		places = ds.places()
	}
	dir := ""
	for _, p := range places {
		if p.dir != "" && len(missingFiles(p.dir, bases)) == 0 {
			dir = p.dir
			break
		}
	}

	// Files fetched here were parsed and verified on the way in; they are
	// not read a second time.
	fetched := map[string]*IDX{}
	if dir == "" {
		if opt.NoDownload {
			return nil, notFound(ds, places, "downloads are off", nil)
		}
		var why []string
		var created string // the topmost directory made for the download
		for _, p := range places {
			if !p.target || p.dir == "" {
				continue
			}
			top, err := prepareDir(p.dir)
			if err != nil {
				why = append(why, fmt.Sprintf("%s: %v", p.dir, err))
				continue
			}
			dir, created = p.dir, top
			break
		}
		if dir == "" {
			return nil, notFound(ds, places, "no writable directory to download into: "+strings.Join(why, "; "), nil)
		}
		d := &downloader{ds: ds, opt: &opt, log: log, sums: sums, client: opt.Client}
		if d.client == nil {
			d.client = defaultClient
		}
		mirrors := opt.Mirrors
		if len(mirrors) == 0 {
			mirrors = ds.mirrors
		}
		for _, base := range missingFiles(dir, bases) {
			x, err := d.fetch(ctx, dir, base, mirrors)
			if err != nil {
				// Nothing was downloaded: leave no empty directories.
				removeEmptyUpTo(dir, created)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, notFound(ds, places, err.Error(), err)
			}
			fetched[base] = x
		}
	}

	files, names, err := readAll(ctx, dir, bases, fetched, sums, ds.name)
	if err != nil {
		return nil, err
	}

	data := &datasets.Data{Name: ds.name, Source: dir}
	if !opt.TestOnly {
		if data.Train, err = makeSet(files[0], files[1], names[0], names[1]); err != nil {
			return nil, fmt.Errorf("%s in %s: %w", ds.name, dir, err)
		}
		files, names = files[2:], names[2:]
	}
	if data.Test, err = makeSet(files[0], files[1], names[0], names[1]); err != nil {
		return nil, fmt.Errorf("%s in %s: %w", ds.name, dir, err)
	}
	train := 0
	if data.Train != nil {
		train = data.Train.N
	}
	log.Info("dataset loaded", "dataset", ds.name, "dir", dir,
		"train", train, "test", data.Test.N, "verified", sums != nil)
	return data, nil
}

// readAll reads the named files of dir concurrently (except those already
// fetched), verifying each against sums unless sums is nil. It returns them
// in the order of bases, with the names of the files actually read.
func readAll(ctx context.Context, dir string, bases []string, fetched map[string]*IDX, sums map[string]string, dataset string) ([]*IDX, []string, error) {
	files := make([]*IDX, len(bases))
	names := make([]string, len(bases))
	errs := make([]error, len(bases))
	var wg sync.WaitGroup
	for i, base := range bases {
		if x, ok := fetched[base]; ok {
			files[i], names[i] = x, base+".gz"
			continue
		}
		path := findFile(dir, base)
		if path == "" {
			errs[i] = &loadError{kind: ErrNotFound, msg: fmt.Sprintf("%s: missing: expected %s or %s.gz in %s", base, base, base, dir)}
			continue
		}
		names[i] = filepath.Base(path)
		wg.Go(func() {
			files[i], errs[i] = readFile(ctx, path, magicOf(base))
			if errs[i] == nil && sums != nil {
				errs[i] = verify(files[i], names[i], sums[base], dataset)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("%s in %s: %w", dataset, dir, err)
	}
	return files, names, nil
}

// MaxFileBytes bounds an IDX file, gzipped or not: the largest known one,
// Fashion-MNIST's training images, is 47 MB uncompressed.
const MaxFileBytes = 1 << 30

// readFile parses one file; ctx cancels the read between chunks.
func readFile(ctx context.Context, path string, magic uint32) (*IDX, error) {
	f, _, err := inputfile.Open(path, MaxFileBytes)
	if err != nil {
		return nil, &FileError{File: filepath.Base(path), Kind: ErrFormat, Msg: err.Error()}
	}
	defer f.Close()
	return parseIDX(ctxReader{ctx, f}, filepath.Base(path), magic, sizeHint(f), nil)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func verify(x *IDX, file, want, dataset string) error {
	got := hex.EncodeToString(x.SHA256[:])
	if want == "" {
		return &FileError{File: file, Kind: ErrChecksum, Msg: "no known SHA-256 to check against"}
	}
	if got != want {
		what := "corrupt or different data"
		for _, ds := range knownDatasets { // name a mix-up of known files
			for base, sum := range ds.sha256 {
				if sum == got {
					what = "it is " + ds.name + "'s " + base
				}
			}
		}
		return &FileError{File: file, Kind: ErrChecksum, Msg: fmt.Sprintf(
			"SHA-256 of the decompressed contents is %s, expected %s (the original %s file): %s",
			got, want, dataset, what)}
	}
	return nil
}

func makeSet(img, lab *IDX, imgName, labName string) (*datasets.Set, error) {
	if img.Magic != MagicImages || lab.Magic != MagicLabels {
		return nil, fmt.Errorf("internal: %s/%s parsed as magic %d/%d", imgName, labName, img.Magic, lab.Magic)
	}
	n, rows, cols := img.Dims[0], img.Dims[1], img.Dims[2]
	if rows != Rows || cols != Cols {
		return nil, &FileError{File: imgName, Kind: ErrFormat,
			Msg: fmt.Sprintf("image size %dx%d: expected %dx%d", rows, cols, Rows, Cols)}
	}
	if lab.N() != n {
		return nil, &FileError{File: labName, Kind: ErrFormat,
			Msg: fmt.Sprintf("holds %d labels: expected %d to match the images in %s", lab.N(), n, imgName)}
	}
	return &datasets.Set{N: n, Height: rows, Width: cols, Channels: 1, Classes: Classes, Samples: img.Data, Labels: lab.Data}, nil
}

// prepareDir makes dir and proves a file can be created in it. It returns
// the topmost directory it created ("" when dir existed), so that a failed
// download can remove what it made.
func prepareDir(dir string) (created string, err error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = d
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		removeEmptyUpTo(dir, created)
		return "", err
	}
	f.Close()
	return created, os.Remove(f.Name())
}

// removeEmptyUpTo removes dir and its parents up to top, as long as they
// are empty; nothing when top is "".
func removeEmptyUpTo(dir, top string) {
	if top == "" {
		return
	}
	for d := dir; ; d = filepath.Dir(d) {
		if os.Remove(d) != nil || d == top || filepath.Dir(d) == d {
			return
		}
	}
}

func notFound(ds *dataset, places []place, why string, cause error) error {
	var gz, where []string
	for _, base := range fileNames {
		gz = append(gz, base+".gz")
	}
	for _, p := range places {
		where = append(where, p.label)
	}
	hint := "into " + where[0]
	if len(where) > 1 {
		hint = "into one of: " + strings.Join(where, "; ") + "; or name their directory explicitly"
	}
	return &loadError{kind: ErrNotFound, cause: cause, msg: fmt.Sprintf(
		"%s: files not found and not downloaded: %s. Put %s (gzipped or not) %s",
		ds.name, why, strings.Join(gz, ", "), hint)}
}
