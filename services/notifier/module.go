package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// Config is what the notifier reads of triggerflow.yaml: its own section, smtp,
// notifications, the routes (their on_failure recipients), securechange (to resolve
// requester and handler), the custom placeholders (itsm_sync.placeholders, which emails
// use too), the NATS server its alerts name, and nats.replicas for the buckets it
// provisions. Nothing else of the config reaches it (ConfigOf, in Module).
type Config struct {
	Notifier      config.Notifier
	SMTP          config.SMTP
	Notifications config.Notifications
	Routes        []config.Route
	SecureChange  config.SecureChange
	Placeholders  map[string]string
	// NATSServer is the server the alerts' nats commands name, without credentials
	// (config.Config.AlertNATSServer).
	NATSServer string
	Replicas   int // nats.replicas
}

// ConfigOf takes the notifier's sections out of the whole config.
func ConfigOf(c *config.Config) Config {
	return Config{
		Notifier: c.Notifier, SMTP: c.SMTP, Notifications: c.Notifications, Routes: c.Routes,
		SecureChange: c.SecureChange, Placeholders: c.ITSMSync.Placeholders,
		NATSServer: c.AlertNATSServer(), Replicas: c.NATS.Replicas,
	}
}

// Params are the fx inputs of the module.
type Params struct {
	fx.In
	Config   Config
	Log      *slog.Logger
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	// Sender replaces the SMTP mailer (benchmarks, tests); nil: smtp.* from config.
	Sender Sender `optional:"true"`
	// Tracing: spans of operations, alerts and SMTP sends (tracing.Module); nil: none.
	Tracing trace.TracerProvider `optional:"true"`
}

// Notifier is the notifier's parts: the service, the runners of its email lanes and of
// its alerts, and the digester.
type Notifier struct {
	Service *Service
	Emails  *runner.Runner
	Alerts  *runner.Runner
	alerter *alerter
	digest  *digester
}

// New builds the notifier: SMTP and SecureChange clients checked before anything is
// consumed; the buckets are bound at start (Module).
func New(lc fx.Lifecycle, p Params) (*Notifier, error) {
	c := p.Config
	log := p.Log.With("service", ServiceName)
	instance := c.Notifier.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	s := &Service{Log: log, Cfg: c, routes: map[string]config.Route{}, Mail: p.Sender}
	for _, r := range c.Routes {
		s.routes[r.Name] = r
	}
	if s.Mail == nil {
		if !c.SMTP.Enabled() {
			return nil, errors.New("notifier: smtp.host is required")
		}
		pool := make(mailPool, max(c.Notifier.Concurrency, 1))
		for range cap(pool) {
			m, err := mailer.New(c.SMTP, log)
			if err != nil {
				return nil, err
			}
			lc.Append(fx.StopHook(func() {
				if err := m.Close(); err != nil { // a server already gone cannot spoil the stop
					log.Debug("smtp connection not closed cleanly", "err", err)
				}
			}))
			pool <- m
		}
		s.Mail = pool
	}
	s.Mail = traced(s.Mail, p.Tracing, c.SMTP.Host)
	var err error
	if c.SecureChange.Enabled() {
		if s.SecureChange, err = securechange.New(c.SecureChange, log); err != nil {
			return nil, err
		}
		s.SecureChange.Traced(p.Tracing)
	}
	pub, err := bus.NewPublisher(p.Conn, bus.PublisherConfig{AckWait: 10 * time.Second}, logging.Watermill(log))
	if err != nil {
		return nil, err
	}
	rm, err := runner.NewMetrics(p.Registry)
	if err != nil {
		return nil, err
	}
	if s.metrics, err = newMetrics(p.Registry); err != nil {
		return nil, err
	}
	dg := &digester{
		s: s, log: log, js: p.JS, cc: DigestConsumer(c.SMTP.Timeout), pub: pub, window: c.Notifications.DigestWindow,
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triggerflow_notifier_digest_alerts_sent_total", Help: "Alerts sent in digest emails (the SMTP server accepted them).",
		}),
		unsent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triggerflow_notifier_digest_alerts_unsent_total", Help: "Alerts of digests the SMTP server did not accept (kept and retried).",
		}),
		stopped: make(chan struct{}),
	}
	for _, col := range []prometheus.Collector{dg.sent, dg.unsent} {
		if err := p.Registry.Register(col); err != nil {
			return nil, err
		}
	}
	al := &alerter{s: s, log: log, queue: dg.queue, storm: storm{after: c.Notifications.DigestAfter, window: c.Notifications.DigestWindow}}
	n := &Notifier{
		Service: s, alerter: al, digest: dg,
		Emails: &runner.Runner{
			Service: ServiceName, Log: log, Pub: pub, JS: p.JS, Reads: natsconn.ReaderFor(p.JS.Conn(), c.Replicas), Perform: s.Perform, Retry: s.Retry,
			Results: true, Lanes: true, Metrics: rm, Instance: instance, Tracing: p.Tracing,
		},
		Alerts: &runner.Runner{
			Service: ServiceName, Log: log, Pub: pub, JS: p.JS, Reads: natsconn.ReaderFor(p.JS.Conn(), c.Replicas), Perform: al.Perform, Retry: al.Retry,
			Decode: al.Decode, Metrics: rm, Instance: instance, Tracing: p.Tracing,
		},
	}
	return n, nil
}

// Consumers of the notifier: the email lanes (events.Partitions: the emails of one
// ticket go out in order), failed results and the dispatcher's dead letters (alerts),
// and the queued digest alerts.
func Consumers(c Config) (lanes, alerts []natsconn.ConsumerConfig, digest natsconn.ConsumerConfig) {
	for p := range events.Partitions {
		lanes = append(lanes, natsconn.ConsumerConfig{
			Stream: events.StreamOps, Durable: fmt.Sprintf("notifier-email-p%02d", p),
			FilterSubject: events.OpLane(events.OpEmail, TargetSMTP, p),
			Description:   fmt.Sprintf("notifier: email operations, lane %d of %d", p, events.Partitions),
			AckWait:       c.Notifier.AckWait, MaxDeliver: -1, Ordered: true, FastAck: true,
		})
	}
	base := natsconn.ConsumerConfig{AckWait: c.Notifier.AckWait, MaxDeliver: -1, PullBatch: 2, FastAck: true}
	results, dlq := base, base
	results.Stream, results.Durable, results.FilterSubject, results.Description = events.StreamResults, "notifier-alerts", events.SubjResultsFailed, "notifier: alerts on failed operations"
	dlq.Stream, dlq.Durable, dlq.FilterSubject, dlq.Description = events.StreamDLQ, "notifier-dlq", events.DLQOf("dispatcher"), "notifier: alerts on triggers the dispatcher gave up on"
	return lanes, []natsconn.ConsumerConfig{results, dlq}, DigestConsumer(c.SMTP.Timeout)
}

// Module is the notifier service, as internal/app composes it for `triggerflow notifier`,
// `triggerflow all` (when smtp.host is set) and the tests.
var Module = fx.Module(ServiceName,
	fx.Provide(fx.Private, ConfigOf, New),
	fx.Invoke(func(lc fx.Lifecycle, c Config, n *Notifier, js jetstream.JetStream, r *message.Router, drain *bus.Drain) {
		var hs []*message.Handler
		digestCtx, stopDigest := context.WithCancel(context.Background())
		final := make(chan struct{})
		log := n.Service.Log
		lc.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				kv, err := natsconn.EnsureBuckets(ctx, js, c.Replicas)
				if err != nil {
					return err
				}
				n.Emails.Start(ctx, kv)
				n.Alerts.Start(ctx, kv) // no lanes: binds only
				lanes, alerts, dg := Consumers(c)
				for _, cc := range lanes {
					h, err := bus.AddHandlers(ctx, js, r, cc, 1, n.Emails.Handle, drain, logging.Watermill(log))
					if err != nil {
						return err
					}
					hs = append(hs, h...)
				}
				for _, cc := range alerts {
					// One at a time: storm control counts alerts in order.
					h, err := bus.AddHandlers(ctx, js, r, cc, 1, n.Alerts.Handle, drain, logging.Watermill(log))
					if err != nil {
						return err
					}
					hs = append(hs, h...)
				}
				if _, err := natsconn.EnsureConsumer(ctx, js, dg); err != nil {
					return err
				}
				drain.Consumers().Watch(dg) // its lag is reported; the digester reads it in batches
				if err := r.RunHandlers(context.Background()); err != nil {
					return fmt.Errorf("start %s: %w", ServiceName, err)
				}
				go n.digest.run(digestCtx, final)
				log.Info("notifier consuming", "handlers", len(hs), "smtp", c.SMTP.Host)
				return nil
			},
			OnStop: func(ctx context.Context) error {
				bus.StopHandlers(ctx, drain, hs)
				close(final) // one last digest, then stop
				select {
				case <-n.digest.stopped:
				case <-ctx.Done():
					stopDigest()
				}
				stopDigest()
				return nil
			},
		})
	}),
)

// mailPool shares notifier.concurrency mailers (one SMTP connection each) between the
// lanes: each send takes one, so emails go out in parallel on reused connections.
type mailPool chan *mailer.Mailer

// Send sends on a free connection.
func (p mailPool) Send(ctx context.Context, msg mailer.Message) error {
	var m *mailer.Mailer
	select {
	case m = <-p:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { p <- m }()
	return m.Send(ctx, msg)
}
