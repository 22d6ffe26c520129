package itsmsync

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
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

// breakerStates are the values of triggerflow_itsm_breaker_state.
var breakerStates = map[string]float64{"closed": 0, "half-open": 1, "open": 2}

// registerBreakers adds triggerflow_itsm_breaker_state{server}, read on scrape.
func registerBreakers(reg prometheus.Registerer, servers map[string]*outbound.Server) error {
	for name, srv := range servers {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "triggerflow_itsm_breaker_state",
			Help:        "Circuit breaker of an outbound server: 0 closed, 1 half-open (one probe out), 2 open (no requests sent).",
			ConstLabels: prometheus.Labels{"server": name},
		}, func() float64 { return breakerStates[srv.BreakerState()] })
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("register the breaker state of %s: %w", name, err)
		}
	}
	return nil
}
