//go:build !unix

package export

// openFlags: no non-blocking open outside Unix (a FIFO is a Unix thing).
const openFlags = 0
