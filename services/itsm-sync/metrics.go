package itsmsync

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// metrics are itsm-sync's request metrics; the outcome of every operation is counted
// by the runner (triggerflow_operation_deliveries_total).
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_itsm_requests_total", Help: "Requests sent, by target and HTTP status (0: no response).",
		}, []string{"target", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "triggerflow_itsm_request_seconds", Help: "Request latency by target.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"target"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(target string, a events.Attempt) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(target, strconv.Itoa(a.Status)).Inc()
	if a.Latency > 0 {
		m.latency.WithLabelValues(target).Observe(a.Latency.Seconds())
	}
}
