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
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
	"github.com/triggerflow/triggerflow/pkg/platform/logging"
	"github.com/triggerflow/triggerflow/pkg/platform/natsconn"
	"github.com/triggerflow/triggerflow/pkg/platform/securechange"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// Params are the fx inputs of the module.
type Params struct {
	fx.In
	Config *config.Config
	Log    *slog.Logger
	Conn   *nats.Conn
	JS     jetstream.JetStream
	// Sender replaces the SMTP mailer (benchmarks, tests); nil: smtp.* from config.
	Sender Sender `optional:"true"`
}

// New builds the notifier: SMTP and SecureChange clients checked before anything is
// consumed.
func New(lc fx.Lifecycle, p Params) (*Service, error) {
	c := p.Config
	log := p.Log.With("service", ServiceName)
	s := &Service{
		log: log, cfg: c, instance: c.Notifier.Instance, now: time.Now,
		routes: map[string]config.Route{},
	}
	for _, r := range c.Routes {
		s.routes[r.Name] = r
	}
	if s.instance == "" {
		s.instance, _ = os.Hostname()
	}
	s.mail = p.Sender
	if s.mail == nil {
		if !c.SMTP.Enabled() {
			return nil, errors.New("notifier: smtp.host is required")
		}
		pool := make(mailPool, max(c.Notifier.Concurrency, 1))
		for range cap(pool) {
			m, err := mailer.New(c.SMTP, log)
			if err != nil {
				return nil, err
			}
			lc.Append(fx.StopHook(m.Close))
			pool <- m
		}
		s.mail = pool
	}
	var err error
	if c.SecureChange.Enabled() {
		if s.sc, err = securechange.New(c.SecureChange, log); err != nil {
			return nil, err
		}
	}
	if s.pub, err = bus.NewPublisher(p.Conn, bus.PublisherConfig{AckWait: 10 * time.Second}, logging.Watermill(log)); err != nil {
		return nil, err
	}
	s.alerts = newAlerter(s, c.Notifications)
	return s, nil
}

// Consumers of the notifier: email operations, failed results, dispatcher dead letters.
func Consumers(c config.Notifier) []bus.ConsumerConfig {
	base := bus.ConsumerConfig{AckWait: c.AckWait, MaxDeliver: -1, PullBatch: c.PullBatch,
		Backoff: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}}
	email, results, dlq := base, base, base
	email.Stream, email.Durable, email.FilterSubject, email.Description = events.StreamOps, "notifier-email", "scw.op.email.>", "notifier: email operations"
	results.Stream, results.Durable, results.FilterSubject, results.Description = events.StreamResults, "notifier-alerts", "scw.result.*.failed.>", "notifier: alerts on failed operations"
	dlq.Stream, dlq.Durable, dlq.FilterSubject, dlq.Description = events.StreamDLQ, "notifier-dlq", "scw.dlq.dispatcher.>", "notifier: alerts on triggers the dispatcher gave up on"
	return []bus.ConsumerConfig{email, results, dlq}
}

// Module is the notifier service.
var Module = fx.Module(ServiceName,
	fx.Provide(New),
	fx.Invoke(func(lc fx.Lifecycle, c *config.Config, s *Service, js jetstream.JetStream, r *message.Router) {
		var hs []*message.Handler
		lc.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				kv, err := natsconn.EnsureBuckets(ctx, js, c.NATS.Replicas)
				if err != nil {
					return err
				}
				s.done, s.attempts = kv[events.BucketDone], kv[events.BucketAttempts]
				ccs := Consumers(c.Notifier)
				handlers := []message.NoPublishHandlerFunc{s.HandleEmail, s.alerts.HandleResult, s.alerts.HandleDeadLetter}
				for i, cc := range ccs {
					n := 1 // alerts one at a time: storm control counts them in order
					if i == 0 {
						n = c.Notifier.Concurrency
					}
					h, err := bus.AddHandlers(ctx, js, r, cc, n, handlers[i], logging.Watermill(s.log))
					if err != nil {
						return err
					}
					hs = append(hs, h...)
				}
				if err := r.RunHandlers(context.Background()); err != nil {
					return fmt.Errorf("start %s: %w", ServiceName, err)
				}
				s.log.Info("notifier consuming", "handlers", len(hs), "smtp", c.SMTP.Host)
				return nil
			},
			OnStop: func(ctx context.Context) error {
				bus.StopHandlers(ctx, hs)
				s.alerts.stop()
				return nil
			},
		})
	}),
)

// mailPool shares notifier.concurrency mailers (one SMTP connection each) between the
// handlers: each send takes one, so emails go out in parallel on reused connections.
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
