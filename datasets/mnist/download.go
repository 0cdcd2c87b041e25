package mnist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxDownload caps one file's transfer so a broken mirror cannot fill the
// disk; the largest known file (Fashion-MNIST train images) is 26 MB.
const maxDownload = 256 << 20

var defaultClient = &http.Client{Timeout: 10 * time.Minute}

type downloader struct {
	ds     *dataset
	opt    *Options
	log    *slog.Logger
	sums   map[string]string // nil: structural checks only
	client *http.Client
}

// fetch gets base.gz into dir from the first mirror that delivers a file
// passing every check, and returns it parsed.
func (d *downloader) fetch(ctx context.Context, dir, base string, mirrors []string) (*IDX, error) {
	file := base + ".gz"
	var fails mirrorErrors
	for _, m := range mirrors {
		url := strings.TrimSuffix(m, "/") + "/" + file
		d.log.Info("downloading", "dataset", d.ds.name, "url", url, "dir", dir)
		x, err := d.fetchFrom(ctx, url, dir, base)
		if err == nil {
			return x, nil
		}
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the URL we name anyway
		}
		d.log.Warn("download failed", "url", url, "err", err)
		fails = append(fails, fmt.Errorf("%s: %w", url, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(mirrors) == 0 {
		fails = append(fails, errors.New("no mirrors"))
	}
	return nil, fmt.Errorf("%s: download failed (%w)", file, fails)
}

// mirrorErrors keeps every mirror's failure reachable by errors.Is on one
// line.
type mirrorErrors []error

func (m mirrorErrors) Error() string {
	s := make([]string, len(m))
	for i, e := range m {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (m mirrorErrors) Unwrap() []error { return m }

// fetchFrom downloads into a temporary file next to the final one, checks
// it and only then renames it, so an interrupted or wrong transfer leaves
// nothing behind under a name that Load would pick up.
func (d *downloader) fetchFrom(ctx context.Context, url, dir, base string) (x *IDX, err error) {
	file := base + ".gz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	if resp.ContentLength > maxDownload {
		return nil, fmt.Errorf("server announces %d bytes: expected at most %d", resp.ContentLength, maxDownload)
	}

	// A process killed mid-download leaves its part file; remove those of
	// this file before making another.
	if stale, _ := filepath.Glob(filepath.Join(dir, "."+file+".*.part")); len(stale) > 0 {
		for _, p := range stale {
			os.Remove(p)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+file+".*.part")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	var w io.Writer = tmp
	var pr *progress
	if d.opt.Progress != nil {
		pr = &progress{w: d.opt.Progress, label: d.ds.name + ": " + file, total: resp.ContentLength, lastPct: -1, lastMiB: -1, printed: -1}
		w = io.MultiWriter(tmp, pr)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxDownload+1))
	if pr != nil {
		pr.done()
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("transfer broken after %d bytes: %w", n, err)
	case n > maxDownload:
		return nil, fmt.Errorf("more than %d bytes: expected at most that", int64(maxDownload))
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return nil, fmt.Errorf("transfer broken: got %d of %d bytes", n, resp.ContentLength)
	}
	if err = tmp.Sync(); err != nil {
		return nil, err
	}
	if _, err = tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	// Parse under the final name so errors name the file the user knows.
	if x, err = parseIDX(ctxReader{ctx, tmp}, file, magicOf(base), sizeHint(tmp), nil); err != nil {
		return nil, err
	}
	if d.sums != nil {
		if err = verify(x, file, d.sums[base], d.ds.name); err != nil {
			return nil, err
		}
	}
	if err = tmp.Close(); err != nil {
		return nil, err
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, file)); err != nil {
		return nil, err
	}
	d.log.Info("downloaded", "file", filepath.Join(dir, file), "bytes", n, "verified", d.sums != nil)
	return x, nil
}

// progress writes "label: done/total bytes (pct%)" lines, rewriting one
// terminal line with \r, at most once per percent (or MiB when the total
// is unknown).
type progress struct {
	w        io.Writer
	label    string
	total, n int64
	lastPct  int
	lastMiB  int64
	printed  int64 // n at the last line written
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	p.report(false)
	return len(b), nil
}

func (p *progress) report(final bool) {
	if final && p.n == p.printed {
		return
	}
	if p.total > 0 {
		pct := int(p.n * 100 / p.total)
		if pct == p.lastPct && !final {
			return
		}
		p.lastPct = pct
		fmt.Fprintf(p.w, "\r%s %d/%d bytes (%d%%)", p.label, p.n, p.total, pct)
	} else {
		mib := p.n >> 20
		if mib == p.lastMiB && !final {
			return
		}
		p.lastMiB = mib
		fmt.Fprintf(p.w, "\r%s %d bytes", p.label, p.n)
	}
	p.printed = p.n
}

func (p *progress) done() {
	p.report(true)
	fmt.Fprintln(p.w)
}
