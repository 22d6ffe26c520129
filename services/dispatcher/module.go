package dispatcher

import (
	"context"
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
	"github.com/triggerflow/triggerflow/internal/correlation"
	"github.com/triggerflow/triggerflow/internal/rewrite"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Durable prefixes the dispatcher's lanes on SCW_TRIGGERS, durable pull consumers shared
// by all replicas: dispatcher-plan_trigger-p00 … p15 (events.Partitions).
const Durable = "dispatcher-plan_trigger"

// Config is what the dispatcher reads of triggerflow.yaml: its own section, the routes
// and securechange (to enrich triggers). Nothing else of the config reaches it (ConfigOf,
// in Module). The routes' templates are checked with the rest of the config, before any
// service starts (internal/configcheck).
type Config struct {
	Dispatcher   config.Dispatcher
	Routes       []config.Route
	SecureChange config.SecureChange
	// InboundRoutes act on ITSM callbacks; Inbound: some server has a callback endpoint
	// or some inbound route is configured (the dispatcher then consumes SCW_INBOUND).
	InboundRoutes []config.InboundRoute
	Inbound       bool
	// Replicas of the key-value buckets (scw_correlation: the record index).
	Replicas int
}

// ConfigOf takes the dispatcher's sections out of the whole config.
func ConfigOf(c *config.Config) Config {
	out := Config{
		Dispatcher: c.Dispatcher, Routes: c.Routes, SecureChange: c.SecureChange,
		InboundRoutes: c.InboundRoutes, Inbound: len(c.InboundRoutes) > 0, Replicas: c.NATS.Replicas,
	}
	for _, s := range c.Servers {
		out.Inbound = out.Inbound || s.Inbound != nil
	}
	return out
}

// Params are the fx inputs of the module.
type Params struct {
	fx.In
	Config   Config
	Log      *slog.Logger
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	// Tracing: spans of plans and SecureChange calls (tracing.Module); nil: none.
	Tracing trace.TracerProvider `optional:"true"`
}

// New builds the dispatcher: routes compiled, SecureChange client and plugins checked,
// all before anything is consumed.
func New(p Params) (*Dispatcher, error) {
	log := p.Log.With("service", ServiceName)
	routes, err := CompileRoutes(p.Config.Routes)
	if err != nil {
		return nil, err
	}
	actions, err := PlanActions(p.Config.Routes)
	if err != nil {
		return nil, err
	}
	inbound, err := CompileInboundRoutes(p.Config.InboundRoutes)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		log: log, routes: routes, actions: actions, inbound: inbound, maxDeliver: p.Config.Dispatcher.MaxDeliver, maxAge: p.Config.Dispatcher.MaxAge, now: time.Now,
		instance: p.Config.Dispatcher.Instance, tracer: tracing.Tracer(p.Tracing),
	}
	if d.instance == "" {
		d.instance, _ = os.Hostname()
	}
	if p.Config.SecureChange.Enabled() {
		if d.sc, err = securechange.New(p.Config.SecureChange, log); err != nil {
			return nil, err
		}
		d.sc.Traced(p.Tracing)
	}
	if len(p.Config.Dispatcher.Plugins) > 0 {
		d.rewriter = rewrite.New(p.Config.Dispatcher.Plugins, log)
	}
	if d.pub, err = bus.NewPublisher(p.Conn, bus.PublisherConfig{AckWait: 10 * time.Second}, logging.Watermill(log)); err != nil {
		return nil, err
	}
	if d.batch, err = bus.NewBatcher(p.Conn, bus.PublisherConfig{AckWait: 10 * time.Second}); err != nil {
		return nil, err
	}
	if d.metrics, err = newMetrics(p.Registry); err != nil {
		return nil, err
	}
	return d, nil
}

// Consumers are the dispatcher's lanes: events.Partitions ordered consumers on
// SCW_TRIGGERS, each planning one trigger at a time across every replica, so the
// triggers of one ticket are planned, and their operations published, in the order they
// were stored. Acks are not confirmed (FastAck): a trigger whose ack was lost is planned
// again after ack_wait, and its plan and operations, with the same ids, are stored once.
//
// With inbound set it also has events.Partitions ordered lanes on SCW_INBOUND, acting on
// the ITSM callbacks of one ticket (or record) one after the other.
func Consumers(c config.Dispatcher, inbound bool) []natsconn.ConsumerConfig {
	out := make([]natsconn.ConsumerConfig, 0, 2*events.Partitions)
	for p := range events.Partitions {
		out = append(out, natsconn.ConsumerConfig{
			Stream: events.StreamTriggers, Durable: fmt.Sprintf("%s-p%02d", Durable, p), FilterSubject: events.TriggerLane(p),
			Description: fmt.Sprintf("dispatcher: plans stored triggers, lane %d of %d", p, events.Partitions),
			AckWait:     c.AckWait, MaxDeliver: consumerMaxDeliver(c), Backoff: c.Backoff, Ordered: true, FastAck: true,
		})
	}
	for p := range events.Partitions {
		if !inbound {
			break
		}
		out = append(out, natsconn.ConsumerConfig{
			Stream: events.StreamInbound, Durable: fmt.Sprintf("%s-p%02d", InboundDurable, p), FilterSubject: events.InboundLane(p),
			Description: fmt.Sprintf("dispatcher: acts on stored ITSM callbacks, lane %d of %d", p, events.Partitions),
			AckWait:     c.AckWait, MaxDeliver: consumerMaxDeliver(c), Backoff: c.Backoff, Ordered: true, FastAck: true,
		})
	}
	return out
}

// consumerMaxDeliver is the lanes' MaxDeliver: dispatcher.max_deliver, or -1 (none: the
// dispatcher dead-letters a trigger itself, past dispatcher.max_age).
func consumerMaxDeliver(c config.Dispatcher) int {
	if c.MaxDeliver > 0 {
		return c.MaxDeliver
	}
	return -1
}

// Module is the dispatcher service, as internal/app composes it for `triggerflow
// dispatcher`, `triggerflow all` and the tests. On start it creates its durable consumer and adds its
// handler to the running router; on stop it stops the handler and waits for it.
var Module = fx.Module(ServiceName,
	fx.Provide(fx.Private, ConfigOf),
	fx.Provide(New),
	fx.Invoke(func(lc fx.Lifecycle, c Config, d *Dispatcher, js jetstream.JetStream, r *message.Router, drain *bus.Drain) {
		var hs []*message.Handler
		lc.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				if c.Inbound {
					kv, err := natsconn.EnsureBuckets(ctx, js, c.Replicas)
					if err != nil {
						return err
					}
					d.records = correlation.KV{KV: kv[events.BucketCorrelation]}
				}
				for _, cc := range Consumers(c.Dispatcher, c.Inbound) {
					h, err := bus.AddHandlers(ctx, js, r, cc, 1, d.Handle, drain, logging.Watermill(d.log))
					if err != nil {
						return err
					}
					hs = append(hs, h...)
				}
				if err := r.RunHandlers(context.Background()); err != nil {
					return fmt.Errorf("start %s: %w", ServiceName, err)
				}
				d.log.Info("dispatcher consuming", "stream", events.StreamTriggers, "lanes", len(hs),
					"routes", len(c.Routes), "inbound_routes", len(c.InboundRoutes), "plugins", len(c.Dispatcher.Plugins), "enrichment", d.sc != nil)
				return nil
			},
			OnStop: func(ctx context.Context) error {
				bus.StopHandlers(ctx, drain, hs)
				return nil
			},
		})
	}),
)
