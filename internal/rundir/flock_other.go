//go:build !unix

package rundir

import (
	"errors"
	"os"
)

// Without flock there is no lock that dies with its process: refuse to
// pretend.
var errWouldBlock = errors.New("would block")

func lockFile(*os.File) error { return errors.New("run directory locks need a unix system") }
