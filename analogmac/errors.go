package analogmac

import (
	"errors"
	"fmt"
)

// Sentinel errors of the device contract; test for them with errors.Is.
var (
	// ErrInvalid: an argument is out of range or shapes do not match. The
	// same call will fail again; an *ArgError names the argument.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the device or program was closed.
	ErrClosed = errors.New("device or program closed")
	// ErrUnavailable: the device cannot be reached now (a remote chip whose
	// server is down). A later call may succeed.
	ErrUnavailable = errors.New("device unavailable")
	// ErrBusy: the device refused the call because its queue is full. A
	// later call may succeed.
	ErrBusy = errors.New("device busy")
)

// ArgError is an argument a device refuses. Field names it as a caller
// wrote it ("sends", "weights[3][7]", "placement.column"); it is ErrInvalid.
type ArgError struct {
	Field string
	Msg   string
}

func (e *ArgError) Error() string        { return "analogmac: " + e.Field + ": " + e.Msg }
func (e *ArgError) Is(target error) bool { return target == ErrInvalid }

func argErr(field, format string, args ...any) error {
	return &ArgError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// closedErr is returned by calls on a closed device or program.
func closedErr(what string) error { return fmt.Errorf("analogmac: %s: %w", what, ErrClosed) }
