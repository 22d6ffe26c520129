package ingress

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	inFlight prometheus.Gauge
	requests *prometheus.CounterVec
	triggers *prometheus.CounterVec
	publish  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "triggerflow_ingress_requests_in_flight",
			Help: "Trigger requests being handled now (reading, decoding or waiting for JetStream).",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_ingress_requests_total",
			Help: "Requests by endpoint (mediator, raw, inbound:<server> for an ITSM callback; unknown for a path no endpoint serves) and outcome (stored, test, rejected, unauthorized, unavailable).",
		}, []string{"endpoint", "outcome"}),
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_ingress_triggers_total",
			Help: "Triggers received with a known event (lower case, e.g. create), by outcome (stored, rejected: bad ticket XML, unavailable: JetStream did not acknowledge); TEST runs are not triggers.",
		}, []string{"event", "outcome"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "triggerflow_ingress_publish_seconds",
			Help:    "Time from publish to JetStream's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	for _, c := range []prometheus.Collector{m.inFlight, m.requests, m.triggers, m.publish} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
