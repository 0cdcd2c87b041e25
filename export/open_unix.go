//go:build unix

package export

import "syscall"

// openFlags opens without blocking: opening a FIFO for reading would
// otherwise wait for a writer before the mode could be checked. It has no
// effect on regular files.
const openFlags = syscall.O_NONBLOCK
