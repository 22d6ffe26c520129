package itsmsync

import (
	"context"
	"errors"
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
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
	"github.com/triggerflow/triggerflow/pkg/platform/logging"
	"github.com/triggerflow/triggerflow/pkg/platform/natsconn"
	"github.com/triggerflow/triggerflow/pkg/platform/securechange"
	"github.com/triggerflow/triggerflow/pkg/platform/wfi"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// SecureChangeConcurrency is how many write-backs one replica performs at once.
const SecureChangeConcurrency = 4

// HandlersPerSlot: each server consumer runs this many handlers per request slot
// (servers.<name>.concurrency), so the JetStream and key-value round trips of some
// operations overlap with the requests of others. A handler waiting for a slot holds its
// message: config validation keeps itsm_sync.ack_wait above the longest such wait.
const HandlersPerSlot = config.ITSMHandlersPerSlot

// Params are the fx inputs of the module.
type Params struct {
	fx.In
	Config   *config.Config
	Log      *slog.Logger
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	Hooks    *Hooks `optional:"true"`
}

// New builds the service: servers, SecureChange client, templates and buckets checked
// before anything is consumed.
func New(lc fx.Lifecycle, p Params) (*Service, error) {
	log := p.Log.With("service", ServiceName)
	c := p.Config
	if err := CheckTemplates(c); err != nil {
		return nil, err
	}
	s := &Service{
		log: log, cfg: c.ITSMSync, instance: c.ITSMSync.Instance, now: time.Now,
	}
	if p.Hooks != nil {
		s.hooks = *p.Hooks
	}
	if s.instance == "" {
		s.instance, _ = os.Hostname()
	}
	var err error
	if s.servers, err = outbound.NewSet(c.Servers, outbound.Options{ExcerptBytes: c.ITSMSync.ExcerptBytes, Log: log}); err != nil {
		return nil, err
	}
	if c.SecureChange.Enabled() {
		if s.sc, err = securechange.New(c.SecureChange, log); err != nil {
			return nil, err
		}
	}
	if s.pub, err = bus.NewPublisher(p.Conn, bus.PublisherConfig{AckWait: 10 * time.Second}, logging.Watermill(log)); err != nil {
		return nil, err
	}
	if s.metrics, err = newMetrics(p.Registry); err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func() {
		for _, srv := range s.servers {
			srv.Close()
		}
	}))
	return s, nil
}

// CheckTemplates parses every template the routes' itsm and securechange actions use,
// so a syntax error stops the start (and `triggerflow config check`), naming the route.
func CheckTemplates(c *config.Config) error {
	var errs []error
	parse := func(where, text string, esc wfi.Escape) {
		if text == "" {
			return
		}
		if _, err := wfi.Parse(where, text, esc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	for i, r := range c.Routes {
		for j, a := range r.Actions {
			where := fmt.Sprintf("routes[%d] (%s).actions[%d]", i, r.Name, j)
			switch {
			case a.ITSM != nil:
				it := a.ITSM
				parse(where+".itsm.path", it.Path, wfi.EscapeURL)
				parse(where+".itsm.body", it.Body, wfi.EscapeJSON)
				if it.BodyFile != "" {
					b, err := os.ReadFile(it.BodyFile)
					if err != nil {
						errs = append(errs, fmt.Errorf("%s.itsm.body_file: %w", where, err))
					} else {
						parse(where+".itsm.body_file "+it.BodyFile, string(b), wfi.EscapeJSON)
					}
				}
				for k, v := range it.Headers {
					parse(where+".itsm.headers."+k, v, wfi.EscapeNone)
				}
				for k, v := range it.Response.Correlate {
					parse(where+".itsm.response.correlate."+k, v, wfi.EscapeNone)
				}
				for k, v := range it.Response.Fields {
					parse(where+".itsm.response.fields."+k, v, wfi.EscapeNone)
				}
				if it.Lookup != nil {
					parse(where+".itsm.lookup.path", it.Lookup.Path, wfi.EscapeURL)
				}
			case a.SecureChange != nil:
				sc := a.SecureChange
				for k, v := range sc.UpdateFields {
					parse(where+".securechange.update_fields."+k, v, wfi.EscapeNone)
				}
				for k, v := range map[string]string{"approve": sc.Approve, "reject": sc.Reject, "redo": sc.Redo, "comment": sc.Comment, "reject_ticket": sc.RejectTicket} {
					parse(where+".securechange."+k, v, wfi.EscapeNone)
				}
			}
		}
	}
	for k, v := range c.ITSMSync.Placeholders {
		parse("itsm_sync.placeholders."+k, v, wfi.EscapeNone)
	}
	return errors.Join(errs...)
}

// Consumers are the durable consumers of itsm-sync: one per outbound server (so a
// server that is down or slow delays no other) and one for SecureChange write-backs.
func Consumers(c *config.Config) []bus.ConsumerConfig {
	base := bus.ConsumerConfig{
		Stream: events.StreamOps, AckWait: c.ITSMSync.AckWait, MaxDeliver: -1,
		Backoff: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}, PullBatch: c.ITSMSync.PullBatch,
		FastAck: true, // completion is recorded in scw_done before the ack
	}
	var out []bus.ConsumerConfig
	for _, name := range slices.Sorted(maps.Keys(c.Servers)) {
		cc := base
		tok := events.Operation{Kind: events.OpITSM, Target: name, Ticket: "x"}.Subject()
		cc.FilterSubject = tok[:len(tok)-1] + ">"
		cc.Durable = "itsm-sync-" + durableToken(name)
		cc.Description = "itsm-sync: operations for server " + name
		out = append(out, cc)
	}
	sc := base
	sc.FilterSubject = "scw.op." + string(events.OpSecureChange) + ".>"
	sc.Durable = "itsm-sync-securechange"
	sc.Description = "itsm-sync: SecureChange write-backs"
	return append(out, sc)
}

// concurrency of the handlers of a consumer.
func concurrency(c *config.Config, cc bus.ConsumerConfig) int {
	for name, s := range c.Servers {
		if cc.Durable == "itsm-sync-"+durableToken(name) {
			return max(s.Concurrency, 1) * HandlersPerSlot
		}
	}
	return SecureChangeConcurrency
}

// Module is the itsm-sync service: one wiring, used by `triggerflow itsm-sync`,
// `triggerflow all` and the tests.
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
				s.done, s.corr, s.attempts = kv[events.BucketDone], kv[events.BucketCorrelation], kv[events.BucketAttempts]
				for _, cc := range Consumers(c) {
					h, err := bus.AddHandlers(ctx, js, r, cc, concurrency(c, cc), s.Handle, logging.Watermill(s.log))
					if err != nil {
						return err
					}
					hs = append(hs, h...)
				}
				if err := r.RunHandlers(context.Background()); err != nil {
					return fmt.Errorf("start %s: %w", ServiceName, err)
				}
				s.log.Info("itsm-sync consuming", "servers", serverNames(s.servers), "handlers", len(hs), "securechange", s.sc != nil)
				return nil
			},
			OnStop: func(ctx context.Context) error {
				bus.StopHandlers(ctx, hs)
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
