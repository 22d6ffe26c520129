package itsmsync

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggerflow/triggerflow/pkg/events"
)

type metrics struct {
	ops          *prometheus.CounterVec
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	waiting      *prometheus.CounterVec
	breakerWaits *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_itsm_operations_total", Help: "Finished operations by target and result (succeeded, failed).",
		}, []string{"target", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_itsm_requests_total", Help: "Requests sent, by target and HTTP status (0: no response).",
		}, []string{"target", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "triggerflow_itsm_request_seconds", Help: "Request latency by target.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"target"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_itsm_retries_total", Help: "Transient failures retried later, by target.",
		}, []string{"target"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_itsm_skipped_total", Help: "Operations not sent: already done, or cancelled with their group.",
		}, []string{"target", "reason"}),
		waiting: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_itsm_waiting_total", Help: "Deliveries put back while waiting for a create's correlation values.",
		}, []string{"target"}),
		breakerWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_itsm_breaker_open_total", Help: "Deliveries put back because the target's circuit breaker was open.",
		}, []string{"target"}),
	}
	for _, c := range []prometheus.Collector{m.ops, m.requests, m.latency, m.retries, m.skipped, m.waiting, m.breakerWaits} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(target string, a events.Attempt) {
	m.requests.WithLabelValues(target, strconv.Itoa(a.Status)).Inc()
	if a.Latency > 0 {
		m.latency.WithLabelValues(target).Observe(a.Latency.Seconds())
	}
}
