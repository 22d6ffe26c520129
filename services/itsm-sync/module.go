package itsmsync

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/correlation"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// Config is what itsm-sync reads of triggerflow.yaml: its own section, the ITSM servers
// it calls, SecureChange for the write-backs, and nats.replicas for the buckets it
// provisions. Nothing else of the config reaches it (ConfigOf, in Module).
type Config struct {
	ITSMSync     config.ITSMSync
	Servers      map[string]config.Server
	SecureChange config.SecureChange
	Replicas     int // nats.replicas
}

// ConfigOf takes itsm-sync's sections out of the whole config.
func ConfigOf(c *config.Config) Config {
	return Config{ITSMSync: c.ITSMSync, Servers: c.Servers, SecureChange: c.SecureChange, Replicas: c.NATS.Replicas}
}

// Params are the fx inputs of the module.
type Params struct {
	fx.In
	Config   Config
	Log      *slog.Logger
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	Hooks    *Hooks `optional:"true"`
	// Tracing: spans of operations and outbound calls (tracing.Module); nil: none.
	Tracing trace.TracerProvider `optional:"true"`
}

// New builds the service and its runner: servers and the SecureChange client checked
// before anything is consumed. The buckets are bound at start (Module).
func New(lc fx.Lifecycle, p Params) (*Service, *runner.Runner, error) {
	log := p.Log.With("service", ServiceName)
	c := p.Config
	instance := c.ITSMSync.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	s := &Service{Log: log, Cfg: c.ITSMSync}
	if p.Hooks != nil {
		s.Hooks = *p.Hooks
	}
	var err error
	if s.Servers, err = outbound.NewSet(c.Servers, outbound.Options{ExcerptBytes: c.ITSMSync.ExcerptBytes, Log: log, Tracing: p.Tracing}); err != nil {
		return nil, nil, err
	}
	if c.SecureChange.Enabled() {
		if s.SecureChange, err = securechange.New(c.SecureChange, log); err != nil {
			return nil, nil, err
		}
		s.SecureChange.Traced(p.Tracing)
	}
	if s.Pub, err = bus.NewPublisher(p.Conn, bus.PublisherConfig{AckWait: 10 * time.Second}, logging.Watermill(log)); err != nil {
		return nil, nil, err
	}
	if s.Metrics, err = newMetrics(p.Registry); err != nil {
		return nil, nil, err
	}
	if err := registerBreakers(p.Registry, s.Servers); err != nil {
		return nil, nil, err
	}
	rm, err := runner.NewMetrics(p.Registry)
	if err != nil {
		return nil, nil, err
	}
	r := &runner.Runner{
		Service: ServiceName, Log: log, Pub: s.Pub, JS: p.JS, Reads: natsconn.ReaderFor(p.JS.Conn(), c.Replicas), Perform: s.Perform, Retry: s.Retry,
		Results: true, Lanes: true, Metrics: rm, Instance: instance, Tracing: p.Tracing,
	}
	lc.Append(fx.StopHook(func() {
		for _, srv := range s.Servers {
			srv.Close()
		}
	}))
	return s, r, nil
}

// Consumers are the lanes of itsm-sync: events.Partitions per outbound server (so a server
// that is down or slow delays no other) and, when securechange.url is set, as many for
// SecureChange write-backs (without it no route can write back, see config). Each
// lane performs one operation at a time, across every replica, in the order they were
// stored: the operations of one ticket and destination never overtake each other.
func Consumers(c Config) []natsconn.ConsumerConfig {
	lane := func(kind events.OpKind, target, durable, what string, p int) natsconn.ConsumerConfig {
		return natsconn.ConsumerConfig{
			Stream: events.StreamOps, Durable: fmt.Sprintf("%s-p%02d", durable, p),
			FilterSubject: events.OpLane(kind, target, p),
			Description:   fmt.Sprintf("itsm-sync: %s, lane %d of %d", what, p, events.Partitions),
			AckWait:       c.ITSMSync.AckWait, MaxDeliver: -1, Ordered: true,
			FastAck: true, // the result (the done marker) is stored before the ack
		}
	}
	var out []natsconn.ConsumerConfig
	for _, name := range slices.Sorted(maps.Keys(c.Servers)) {
		for p := range events.Partitions {
			out = append(out, lane(events.OpITSM, name, "itsm-sync-"+durableToken(name), "operations for server "+name, p))
		}
	}
	if !c.SecureChange.Enabled() {
		return out
	}
	for p := range events.Partitions {
		out = append(out, lane(events.OpSecureChange, TargetSecureChange, "itsm-sync-securechange", "SecureChange write-backs", p))
	}
	return out
}

// Module is the itsm-sync service, as internal/app composes it for `triggerflow
// itsm-sync`, `triggerflow all` and the tests.
var Module = fx.Module(ServiceName,
	fx.Provide(fx.Private, ConfigOf, New),
	fx.Invoke(func(lc fx.Lifecycle, c Config, s *Service, run *runner.Runner, js jetstream.JetStream, r *message.Router, drain *bus.Drain) {
		var hs []*message.Handler
		lc.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				kv, err := natsconn.EnsureBuckets(ctx, js, c.Replicas)
				if err != nil {
					return err
				}
				s.Correlations = correlation.KV{KV: kv[events.BucketCorrelation], Indexed: indexedKeys(c.Servers)}
				run.Start(ctx, kv)
				for _, cc := range Consumers(c) {
					h, err := bus.AddHandlers(ctx, js, r, cc, 1, run.Handle, drain, logging.Watermill(s.Log))
					if err != nil {
						return err
					}
					hs = append(hs, h...)
				}
				if err := r.RunHandlers(context.Background()); err != nil {
					return fmt.Errorf("start %s: %w", ServiceName, err)
				}
				s.Log.Info("itsm-sync consuming", "servers", slices.Sorted(maps.Keys(s.Servers)), "lanes", len(hs), "securechange", s.SecureChange != nil)
				return nil
			},
			OnStop: func(ctx context.Context) error {
				bus.StopHandlers(ctx, drain, hs)
				return nil
			},
		})
	}),
)

// durableToken makes a server name safe in a consumer name.
func durableToken(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// indexedKeys are, by server with callbacks, the correlation key its callbacks name
// their record by (servers.<name>.inbound.record_key): the values correlation.KV indexes.
func indexedKeys(servers map[string]config.Server) map[string]string {
	out := map[string]string{}
	for name, s := range servers {
		if s.Inbound != nil && s.Inbound.RecordKey != "" {
			out[name] = s.Inbound.RecordKey
		}
	}
	return out
}
