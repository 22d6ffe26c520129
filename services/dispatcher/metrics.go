package dispatcher

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggerflow/triggerflow/pkg/events"
)

type metrics struct {
	plans      *prometheus.CounterVec
	operations *prometheus.CounterVec
	retries    prometheus.Counter
	duration   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		plans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_dispatcher_plans_total", Help: "Plans by the trigger's event (lower case, e.g. create) and status (planned, failed: dead-lettered).",
		}, []string{"event", "status"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_dispatcher_operations_total", Help: "Operations planned, by kind.",
		}, []string{"kind"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triggerflow_dispatcher_retries_total", Help: "Transient planning failures, retried with backoff.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "triggerflow_dispatcher_plan_seconds", Help: "Time to plan and publish one trigger.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	for _, c := range []prometheus.Collector{m.plans, m.operations, m.retries, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(p events.Plan, d time.Duration) {
	m.plans.WithLabelValues(eventLabel(p.Event), string(p.Status)).Inc()
	for _, op := range p.Operations {
		m.operations.WithLabelValues(string(op.Kind)).Inc()
	}
	m.duration.Observe(d.Seconds())
}

// failed counts a trigger that was not planned (dead-lettered).
func (m *metrics) failed(ev events.Trigger) {
	m.plans.WithLabelValues(eventLabel(ev), string(events.PlanFailed)).Inc()
}

// eventLabel is the "event" label of a trigger: its lower-case token, "unknown" when the
// message was not a trigger, "other" for an event no SecureChange sends (published by
// hand), so a bad publisher cannot add series without bound.
func eventLabel(ev events.Trigger) string {
	if ev == "" {
		return "unknown"
	}
	if ev == events.InboundEventName {
		return ev.Token()
	}
	if !ev.Published() {
		return "other"
	}
	return ev.Token()
}
