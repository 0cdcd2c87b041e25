package export

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error of Export, Import, ReadManifest,
// ImportSigned and CheckAccuracy about the files themselves is an *Error
// that matches one of them with errors.Is.
var (
	// ErrNotExport: the file is not an export this build reads: not a
	// regular file, larger than the format allows, not a JSON manifest, a
	// manifest with unknown fields or other semantics (constants, rules)
	// than this build implements, or another format_version (then
	// ErrVersion as well).
	ErrNotExport = errors.New("not an analogloop export this build reads")
	// ErrVersion: a manifest of a format_version other than FormatVersion.
	// Errors that match it also match ErrNotExport.
	ErrVersion = errors.New("unsupported export format version")
	// ErrTampered: the files are an export but damaged or inconsistent:
	// the .npz differs from what the manifest pins (size, SHA-256) or is
	// not the arrays the layers need, a recorded figure disagrees with
	// another, the layer list is not what its description builds, the
	// reference vectors or the recorded ideal accuracy do not reproduce, or
	// a signature does not verify. See docs/inference.md for what these
	// checks can and cannot detect.
	ErrTampered = errors.New("export damaged or inconsistent")
)

// Error is a refused export file: which file, which field (a JSON path
// such as "layers[3].sends", "accuracy.mean" or, inside the .npz,
// "dense1.weight"), what was found and what was expected.
type Error struct {
	Op    string // "import", "export", "sign", "check accuracy"
	File  string // the file at fault, as the caller named it
	Field string // empty when the file as a whole is at fault
	Msg   string
	Kind  error // ErrNotExport, ErrVersion or ErrTampered; nil for other failures (I/O)
	Err   error // the underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("export: ")
	b.WriteString(e.Op)
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(strconv.Quote(e.Field))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		if e.Msg != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap makes an *Error match its Kind (ErrVersion also matches
// ErrNotExport) and its cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
		if e.Kind == ErrVersion {
			errs = append(errs, ErrNotExport)
		}
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// fieldError is an error of a parser that knows the field but not the
// file: the caller turns it into an *Error.
type fieldError struct {
	field string
	msg   string
	kind  error
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return strconv.Quote(e.field) + ": " + e.msg
}

// asError turns err into an *Error of op on file: a fieldError keeps its
// field and kind, an *Error is kept, anything else gets kind.
func asError(op, file string, kind, err error) *Error {
	var fe *fieldError
	var ee *Error
	switch {
	case errors.As(err, &ee):
		return ee
	case errors.As(err, &fe):
		return &Error{Op: op, File: file, Field: fe.field, Msg: fe.msg, Kind: fe.kind}
	}
	return &Error{Op: op, File: file, Kind: kind, Err: err}
}
