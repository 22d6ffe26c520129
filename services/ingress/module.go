// Package ingress receives SecureChange triggers over HTTP (the seed mediator's
// POST /trigger_file, and POST /v1/triggers/{EVENT} for a bash-only mediator) and stores
// each one in SCW_TRIGGERS, answering success only after JetStream acknowledged it.
package ingress

import (
	"context"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
)

// Options are the ingress's command-line switches.
type Options struct {
	// Dev allows running without users (`--dev`), for a local trial only.
	Dev bool
}

// Params are the fx inputs of the module.
type Params struct {
	fx.In
	Config config.Ingress // the ingress's section of triggerflow.yaml
	// Inbound: the servers' callback endpoints (servers.<name>.inbound), and nothing
	// else of servers.
	Inbound  InboundServers `optional:"true"`
	Log      *slog.Logger
	Conn     *nats.Conn
	Registry *prometheus.Registry
	Health   health.Handler
	Options  Options `optional:"true"`
	// Tracing: a server span per trigger request (tracing.Module); nil: none.
	Tracing trace.TracerProvider `optional:"true"`
}

// New builds the ingress server from its dependencies; fx and tests both call it.
func New(p Params) (*Server, error) {
	log := p.Log.With("service", "ingress")
	// NotWhileDown: a trigger the ingress answered 503 for is never sent later, when the
	// connection is back (SecureChange has been told it failed, and may have given up).
	pub, err := bus.NewPublisher(p.Conn, bus.PublisherConfig{AckWait: p.Config.PublishTimeout, NotWhileDown: true}, logging.Watermill(log))
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(p.Registry)
	if err != nil {
		return nil, err
	}
	instance := p.Config.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	hh := p.Health
	if p.Options.Dev && len(p.Config.Users) == 0 {
		log.Warn("ingress running WITHOUT authentication (--dev): anyone who can reach it can store triggers")
	}
	h, err := NewHandler(HandlerParams{
		Config: p.Config, Log: log, Publisher: pub, Metrics: m, Health: &hh,
		AllowNoAuth: p.Options.Dev, Instance: instance, Tracing: p.Tracing, Inbound: p.Inbound,
	})
	if err != nil {
		return nil, err
	}
	return NewServer(p.Config, h, log), nil
}

// Module is the ingress service, as internal/app composes it for `triggerflow ingress`,
// `triggerflow all` and the tests. New sees only the ingress's section of the config and
// the servers' inbound sections.
var Module = fx.Module("ingress",
	fx.Provide(fx.Private, func(c *config.Config) config.Ingress { return c.Ingress }),
	fx.Provide(fx.Private, InboundOf),
	fx.Provide(New),
	fx.Invoke(func(lc fx.Lifecycle, s *Server) {
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error { return s.Start() },
			OnStop:  s.Stop,
		})
	}),
)
