package notifier

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of email, the "kind" label of the notifier's SMTP metrics.
const (
	mailOperation = "email"  // an email operation of a route
	mailAlert     = "alert"  // one failure alert
	mailDigest    = "digest" // a digest of queued alerts
)

// metrics are the notifier's SMTP and alert metrics; the outcome of every email operation
// and alert is also counted by the runner (triggerflow_operation_deliveries_total).
type metrics struct {
	emails *prometheus.CounterVec
	smtp   *prometheus.HistogramVec
	alerts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_notifier_emails_total",
			Help: "Emails handed to the SMTP server, by kind (email, alert, digest) and outcome (sent: accepted; failed: refused or not reached).",
		}, []string{"kind", "outcome"}),
		smtp: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "triggerflow_notifier_smtp_seconds",
			Help:    "Time to send one email to the SMTP server (connection included), by kind.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"kind"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triggerflow_notifier_alerts_total",
			Help: "Failure alerts by outcome: sent (alone), digested (queued for the next digest during a storm), nobody (no recipient configured).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.emails, m.smtp, m.alerts} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sent records one email handed to the SMTP server.
func (m *metrics) sent(kind string, d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "sent"
	if err != nil {
		outcome = "failed"
	}
	m.emails.WithLabelValues(kind, outcome).Inc()
	m.smtp.WithLabelValues(kind).Observe(d.Seconds())
}

// alert records what became of one failure alert.
func (m *metrics) alert(outcome string) {
	if m == nil {
		return
	}
	m.alerts.WithLabelValues(outcome).Inc()
}
