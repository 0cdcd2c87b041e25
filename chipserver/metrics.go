package chipserver

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what an operator scrapes (Prometheus text format, served by
// cmd/chipd on its own port). Sessions are labelled by their public name
// (s1, s2, ...), never by their id, which works as a capability; a
// session's series are removed when it ends, so that the number of series
// stays bounded.
type metrics struct {
	requests   *prometheus.CounterVec   // method, code
	errors     *prometheus.CounterVec   // method, code (code != OK)
	latency    *prometheus.HistogramVec // method
	queue      prometheus.Gauge
	inflight   prometheus.Gauge
	sessions   prometheus.Gauge
	macs       prometheus.Counter
	updates    prometheus.Counter
	sessReqs   *prometheus.CounterVec // session, client
	sessMACs   *prometheus.CounterVec // session, client
	sessImages *prometheus.CounterVec // session, client
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chipd_requests_total", Help: "Calls answered, by method and gRPC status code.",
		}, []string{"method", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chipd_errors_total", Help: "Calls answered with an error, by method and gRPC status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chipd_request_duration_seconds", Help: "Time from a call's arrival to its answer, queueing included.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18), // 50 us .. 6.5 s
		}, []string{"method"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chipd_queue_depth", Help: "Device requests waiting for a worker.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chipd_calls_in_progress", Help: "Calls being answered, queued ones included.",
		}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chipd_sessions", Help: "Open sessions.",
		}),
		macs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chipd_macs_total", Help: "Multiply-accumulates run on the device (batch x rows x cols per run).",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chipd_weight_updates_total", Help: "Weight updates applied, by Update or with a Run.",
		}),
		sessReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chipd_session_requests_total", Help: "Calls of an open session.",
		}, []string{"session", "client"}),
		sessMACs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chipd_session_macs_total", Help: "Multiply-accumulates run for an open session.",
		}, []string{"session", "client"}),
		sessImages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chipd_session_vectors_total", Help: "Input vectors run for an open session.",
		}, []string{"session", "client"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.errors, m.latency, m.queue, m.inflight, m.sessions, m.macs, m.updates, m.sessReqs, m.sessMACs, m.sessImages} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) forget(name, client string) {
	for _, v := range []*prometheus.CounterVec{m.sessReqs, m.sessMACs, m.sessImages} {
		v.DeleteLabelValues(name, client)
	}
}
