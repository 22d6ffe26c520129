package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// CloseTimeout matches fx's default stop timeout, so a stop hook is not cut off.
const CloseTimeout = 14 * time.Second

// AddHandlers creates or updates the durable consumer cc and adds n handlers to the router
// that pull from it, each handling one message at a time, named <durable>.<i> (an ordered
// lane gets one). Start them on a running router with RunHandlers; stop them with
// StopHandlers.
func AddHandlers(ctx context.Context, js jetstream.JetStream, r *message.Router, cc natsconn.ConsumerConfig, n int, h message.NoPublishHandlerFunc, drain *Drain, log watermill.LoggerAdapter) ([]*message.Handler, error) {
	if _, err := natsconn.EnsureConsumer(ctx, js, cc); err != nil {
		return nil, err
	}
	if cc.Ordered {
		n = 1
	}
	hs := make([]*message.Handler, 0, n)
	for i := range max(n, 1) {
		hs = append(hs, r.AddConsumerHandler(fmt.Sprintf("%s.%d", cc.Durable, i), cc.FilterSubject, NewSubscriber(js, cc, drain, log), h))
	}
	return hs, nil
}

// StopHandlers drains the process (every consumer stops pulling at once; see Drain),
// stops the handlers a module added to the running router and waits for them: for what
// was in flight to be settled, at most until ctx ends (fx's stop timeout).
func StopHandlers(ctx context.Context, drain *Drain, hs []*message.Handler) {
	if drain != nil {
		drain.Begin()
	}
	for _, h := range hs {
		h.Stop()
	}
	for _, h := range hs {
		select {
		case <-h.Stopped():
		case <-ctx.Done():
			return
		}
	}
}

// NewRouter returns a watermill Router whose life follows fx: OnStart runs it in a
// goroutine (never with the OnStart context, which expires) and waits until it runs;
// OnStop closes it. Handlers run on long-lived goroutines (Workers); panics in them
// become errors (and so NAKs).
func NewRouter(lc fx.Lifecycle, log *slog.Logger) (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: CloseTimeout}, logging.Watermill(log))
	if err != nil {
		return nil, fmt.Errorf("watermill router: %w", err)
	}
	workers := NewWorkers()
	r.AddMiddleware(workers.Middleware, middleware.Recoverer)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			errc := make(chan error, 1)
			go func() { errc <- r.Run(context.Background()) }()
			select {
			case <-r.Running():
				return nil
			case err := <-errc:
				return fmt.Errorf("router stopped at start: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		OnStop: func(context.Context) error {
			defer workers.Close()
			return r.Close()
		},
	})
	return r, nil
}

// NewDrainFromConfig is the process's one Drain, with shutdown.drain_timeout.
func NewDrainFromConfig(c *config.Config) *Drain { return NewDrain(c.Shutdown.DrainTimeout) }

// RouterModule provides the process's one *message.Router and its Drain, shared by
// every service.
var RouterModule = fx.Module("router", fx.Provide(NewRouter, NewDrainFromConfig))
