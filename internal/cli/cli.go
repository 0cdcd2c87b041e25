package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// SignalContext returns a context that the first SIGINT or SIGTERM
// cancels. After that first signal the handler is removed, so a second
// one gets Go's default behaviour and ends the process. Call stop when
// done.
func SignalContext() (ctx context.Context, stop context.CancelFunc) {
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// Progress returns w when it is a terminal, for progress lines that
// rewrite themselves, and nil otherwise (a log file gets the log lines
// only).
func Progress(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

// FlagErrors writes err, and each error it joins, one per line: as flag
// returns it for the errors it knows (a configuration field named as its
// flag), as the error's own text otherwise.
func FlagErrors(err error, flag func(error) (string, bool)) string {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if line, ok := flag(e); ok {
			lines = append(lines, line)
			return
		}
		lines = append(lines, e.Error())
	}
	walk(err)
	return strings.Join(lines, "\n")
}

// Command is how a command was run, as results record it and usage shows
// it: "go run ./cmd/NAME" when the program is a binary that go run built
// (in a go-build directory), else the binary's base name; then args.
func Command(name string, args []string) string {
	return strings.TrimSpace(program(os.Args[0], name) + " " + strings.Join(args, " "))
}

func program(arg0, name string) string {
	exe := filepath.Base(arg0)
	if strings.Contains(filepath.ToSlash(arg0), "/go-build") || strings.HasSuffix(exe, ".test") {
		return "go run ./cmd/" + name
	}
	return exe
}
