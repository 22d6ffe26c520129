package runner

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// Outcomes of one delivery of an operation, the "outcome" label of
// triggerflow_operation_deliveries_total.
const (
	outcomeSucceeded  = "succeeded"   // performed and recorded
	outcomeFailed     = "failed"      // permanent or exhausted: dead-lettered
	outcomeSkipped    = "skipped"     // group cancelled, or skipped by an operator
	outcomeDone       = "done"        // already done: not performed again
	outcomeParked     = "parked"      // set aside behind a failed operation of its lane
	outcomeRetry      = "retry"       // transient failure, NAKed with a delay
	outcomeOutage     = "outage"      // the destination is down: NAKed, not counted
	outcomeHandedBack = "handed_back" // cut off by a stop: given back at once
	outcomeInfra      = "infra_retry" // our own KV or publish failed: NAKed
	outcomeInvalid    = "invalid"     // not an operation: dead-lettered
)

// Metrics counts every delivery's outcome, once, with the same labels in every service,
// and how long operations took from stored to done.
type Metrics struct {
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// latencyBuckets span an operation performed at once (tens of milliseconds) to one that
// waited out a day-long outage (retry.max_age).
var latencyBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}

// NewMetrics registers the runner's metrics (once per registry; a second call returns
// the registered ones, so the services of one process share them).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_operation_deliveries_total",
			Help: "Deliveries of operations by service, kind, target and outcome (succeeded, failed, skipped, done, parked, retry, outage, handed_back, infra_retry, invalid).",
		}, []string{"service", "kind", "target", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "triggerflow_operation_delivery_seconds",
			Help:    "Time from an operation's message being stored to its success (retries, outages and lanes waited included), by service, kind and target.",
			Buckets: latencyBuckets,
		}, []string{"service", "kind", "target"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.deliveries, err = register(reg, m.deliveries); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// succeeded counts a success and observes the time since the operation was stored (zero:
// unknown, not observed).
func (m *Metrics) succeeded(service string, kind events.OpKind, target string, stored time.Time) {
	if m == nil {
		return
	}
	m.outcome(service, kind, target, outcomeSucceeded)
	if !stored.IsZero() {
		m.latency.WithLabelValues(service, string(kind), target).Observe(time.Since(stored).Seconds())
	}
}

func (m *Metrics) outcome(service string, kind events.OpKind, target, outcome string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(service, string(kind), target, outcome).Inc()
}
