package runner

import (
	"errors"

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

// Metrics counts every delivery's outcome, once, with the same labels in every service.
type Metrics struct {
	deliveries *prometheus.CounterVec
}

// NewMetrics registers the runner's metrics (once per registry; a second call returns
// the registered ones, so the services of one process share them).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "triggerflow_operation_deliveries_total",
		Help: "Deliveries of operations by service, kind, target and outcome (succeeded, failed, skipped, done, parked, retry, outage, handed_back, infra_retry, invalid).",
	}, []string{"service", "kind", "target", "outcome"})}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.deliveries); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			m.deliveries = are.ExistingCollector.(*prometheus.CounterVec)
			return m, nil
		}
		return nil, err
	}
	return m, nil
}

func (m *Metrics) outcome(service string, kind events.OpKind, target, outcome string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(service, string(kind), target, outcome).Inc()
}
