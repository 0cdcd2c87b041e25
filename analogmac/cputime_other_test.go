//go:build !unix

package analogmac

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
