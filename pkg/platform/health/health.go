// Package health serves /healthz, /readyz and /metrics and owns the Prometheus registry.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/platform/natsconn"
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the three operational endpoints.
type Handler struct {
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	// ReadyTimeout bounds one readiness probe of JetStream. Default 2s.
	ReadyTimeout time.Duration
}

// Mount adds /healthz, /readyz and /metrics to mux.
func (h Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.Registry, promhttp.HandlerOpts{Registry: h.Registry}))
}

func (h Handler) ready(w http.ResponseWriter, r *http.Request) {
	timeout := h.ReadyTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := natsconn.Ready(ctx, h.JS); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Module provides the registry and the Handler.
var Module = fx.Module("health",
	fx.Provide(NewRegistry),
	fx.Provide(func(js jetstream.JetStream, reg *prometheus.Registry) Handler {
		return Handler{JS: js, Registry: reg}
	}),
)

// ServerModule serves the Handler on admin.listen, for the commands without the ingress.
var ServerModule = fx.Module("admin",
	fx.Invoke(func(lc fx.Lifecycle, c *config.Config, h Handler, log *slog.Logger) {
		mux := http.NewServeMux()
		h.Mount(mux)
		srv := &http.Server{Addr: c.Admin.Listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error {
				ln, err := net.Listen("tcp", c.Admin.Listen)
				if err != nil {
					return fmt.Errorf("admin.listen %s: %w", c.Admin.Listen, err)
				}
				log.Info("admin listening", "url", "http://"+ln.Addr().String(), "endpoints", "/healthz /readyz /metrics")
				go func() { _ = srv.Serve(ln) }()
				return nil
			},
			OnStop: func(ctx context.Context) error { return srv.Shutdown(ctx) },
		})
	}),
)
