package benchcpu

import (
	"testing"
	"time"
)

// Meter measures from Start to Report.
type Meter struct {
	start time.Duration
	ok    bool
}

// Start begins a measurement.
func Start() Meter {
	t, ok := processCPU()
	return Meter{start: t, ok: ok}
}

// Now returns the process's CPU time so far (0 where the platform cannot
// measure it).
func Now() time.Duration {
	t, _ := processCPU()
	return t
}

// Report adds the metric cpu-ns/op to b (not where the platform cannot
// measure it).
func (m Meter) Report(b *testing.B) {
	t, ok := processCPU()
	if !m.ok || !ok || b.N == 0 {
		return
	}
	b.ReportMetric(float64((t-m.start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
