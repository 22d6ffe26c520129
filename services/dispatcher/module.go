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
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
	"github.com/triggerflow/triggerflow/pkg/platform/logging"
	"github.com/triggerflow/triggerflow/pkg/platform/securechange"
)

// Durable is the durable pull consumer on SCW_TRIGGERS shared by all replicas; its
// handlers in the router are named Durable.0, Durable.1, ….
const Durable = "dispatcher-plan_trigger"

// Params are the fx inputs of the module.
type Params struct {
	fx.In
	Config   *config.Config
	Log      *slog.Logger
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
}

// New builds the dispatcher: routes compiled, SecureChange client and plugins checked,
// all before anything is consumed.
func New(p Params) (*Dispatcher, error) {
	log := p.Log.With("service", "dispatcher")
	routes, err := CompileRoutes(p.Config.Routes)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		log: log, routes: routes, maxDeliver: p.Config.Dispatcher.MaxDeliver, now: time.Now,
		instance: p.Config.Dispatcher.Instance,
	}
	if d.instance == "" {
		d.instance, _ = os.Hostname()
	}
	if p.Config.SecureChange.Enabled() {
		if d.sc, err = securechange.New(p.Config.SecureChange, log); err != nil {
			return nil, err
		}
	}
	if len(p.Config.Dispatcher.Plugins) > 0 {
		if d.rewriter, err = NewRewriter(p.Config.Dispatcher.Plugins, log); err != nil {
			return nil, err
		}
	}
	if d.pub, err = bus.NewPublisher(p.Conn, bus.PublisherConfig{AckWait: 10 * time.Second}, logging.Watermill(log)); err != nil {
		return nil, err
	}
	if d.metrics, err = newMetrics(p.Registry); err != nil {
		return nil, err
	}
	return d, nil
}

// ConsumerConfig is the explicit durable consumer of the dispatcher.
func ConsumerConfig(c config.Dispatcher) bus.ConsumerConfig {
	return bus.ConsumerConfig{
		Stream: events.StreamTriggers, Durable: Durable, FilterSubject: events.SubjTriggers,
		Description: "dispatcher: plans every stored trigger", AckWait: c.AckWait,
		MaxDeliver: c.MaxDeliver, Backoff: c.Backoff, PullBatch: c.PullBatch,
	}
}

// Module is the dispatcher service: one wiring, used by `triggerflow dispatcher`,
// `triggerflow all` and the tests. On start it creates its durable consumer and adds its
// handler to the running router; on stop it stops the handler and waits for it.
var Module = fx.Module("dispatcher",
	fx.Provide(New),
	fx.Invoke(func(lc fx.Lifecycle, c *config.Config, d *Dispatcher, js jetstream.JetStream, r *message.Router) {
		var hs []*message.Handler
		lc.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				// Concurrency handlers pull from the same durable consumer; each plans one
				// trigger at a time.
				cc := ConsumerConfig(c.Dispatcher)
				var err error
				if hs, err = bus.AddHandlers(ctx, js, r, cc, c.Dispatcher.Concurrency, d.Handle, logging.Watermill(d.log)); err != nil {
					return err
				}
				if err := r.RunHandlers(context.Background()); err != nil {
					return fmt.Errorf("start %s: %w", Durable, err)
				}
				d.log.Info("dispatcher consuming", "stream", cc.Stream, "consumer", cc.Durable, "concurrency", len(hs),
					"routes", len(c.Routes), "plugins", len(c.Dispatcher.Plugins), "enrichment", d.sc != nil)
				return nil
			},
			OnStop: func(ctx context.Context) error {
				bus.StopHandlers(ctx, hs)
				return nil
			},
		})
	}),
)
