package export

import (
	"errors"
	"fmt"
	"io"
	"os"
)

var (
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = errors.New("file too large")
)

// readBounded reads the regular file at path if it holds at most limit
// bytes. The file is opened without blocking (openFlags: a FIFO would
// otherwise wait for a writer) and its mode and size are checked on the
// open descriptor before anything is read, so /dev/zero, a FIFO or a
// sparse 10 GB file cost neither time nor memory. With errNotRegular or
// errTooLarge, what says what was found (its type, its size).
func readBounded(path string, limit int64) (b []byte, what string, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if !st.Mode().IsRegular() {
		return nil, kindOf(st.Mode()), errNotRegular
	}
	if st.Size() > limit {
		return nil, fmt.Sprintf("%d bytes", st.Size()), errTooLarge
	}
	// The file may have grown since the Stat: read at most limit+1 bytes.
	b = make([]byte, 0, st.Size()+1)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		if int64(len(b)) > limit {
			return nil, fmt.Sprintf("more than %d bytes", limit), errTooLarge
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // it grew: make room
		}
	}
	return b, "", nil
}

// kindOf names a file type for an error message.
func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "type " + m.Type().String()
}

// readRegular reads the regular file at path, refusing anything else (a
// directory, a device such as /dev/zero, a FIFO, a socket) and a file
// larger than limit before reading a byte of it, so that a hostile path
// costs neither unbounded time nor memory. When sizeField is set, limit is
// the size a manifest records there and the file must have exactly that
// size (ErrTampered otherwise); when not, a larger file is ErrNotExport.
func readRegular(op, path string, limit int64, sizeField string) ([]byte, error) {
	b, what, err := readBounded(path, limit)
	switch {
	case err == errNotRegular:
		return nil, &Error{Op: op, File: path, Msg: fmt.Sprintf("not a regular file but %s", what), Kind: ErrNotExport}
	case err == errTooLarge && sizeField == "":
		return nil, &Error{Op: op, File: path, Msg: fmt.Sprintf("%s: larger than the %d bytes the format allows", what, limit), Kind: ErrNotExport}
	case err == errTooLarge:
		return nil, &Error{Op: op, File: path, Field: sizeField, Msg: fmt.Sprintf("the file has %s, the manifest records %d", what, limit), Kind: ErrTampered}
	case err != nil:
		return nil, &Error{Op: op, File: path, Err: err}
	case sizeField != "" && int64(len(b)) != limit:
		return nil, &Error{Op: op, File: path, Field: sizeField, Msg: fmt.Sprintf("the file has %d bytes, the manifest records %d", len(b), limit), Kind: ErrTampered}
	}
	return b, nil
}
