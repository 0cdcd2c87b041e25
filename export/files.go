package export

import (
	"errors"
	"fmt"
	"strings"

	"github.com/analogloop/analogloop/internal/inputfile"
)

// readRegular reads the regular file at path, refusing anything else (a
// directory, a device such as /dev/zero, a FIFO, a socket) and a file
// larger than limit before reading a byte of it (internal/inputfile), so
// that a hostile path costs neither unbounded time nor memory. When
// sizeField is set, limit is the size a manifest records there and the file
// must have exactly that size (ErrTampered otherwise); when not, a larger
// file is ErrNotExport.
func readRegular(op, path string, limit int64, sizeField string) ([]byte, error) {
	b, err := inputfile.Read(path, limit)
	msg := ""
	if err != nil {
		msg = strings.TrimPrefix(err.Error(), path+": ") // Error names the file
	}
	switch {
	case errors.Is(err, inputfile.ErrNotRegular):
		return nil, &Error{Op: op, File: path, Msg: msg, Kind: ErrNotExport}
	case errors.Is(err, inputfile.ErrTooLarge) && sizeField == "":
		return nil, &Error{Op: op, File: path, Msg: fmt.Sprintf("%s (the format allows %d bytes)", msg, limit), Kind: ErrNotExport}
	case errors.Is(err, inputfile.ErrTooLarge):
		return nil, &Error{Op: op, File: path, Field: sizeField, Msg: fmt.Sprintf("%s: the manifest records %d bytes", msg, limit), Kind: ErrTampered}
	case err != nil:
		return nil, &Error{Op: op, File: path, Err: err}
	case sizeField != "" && int64(len(b)) != limit:
		return nil, &Error{Op: op, File: path, Field: sizeField, Msg: fmt.Sprintf("the file has %d bytes, the manifest records %d", len(b), limit), Kind: ErrTampered}
	}
	return b, nil
}
