// Package health serves /healthz, /readyz and /metrics and owns the Prometheus registry.
//
// /healthz is liveness only: it answers while the process serves HTTP. /readyz is 200 only
// once the process's start has finished (its streams, buckets and consumers ensured: an
// fx start hook of the app, MarkStarted, runs after the services'), and then while
// JetStream answers and every durable consumer of the process is consuming (a
// deleted consumer is re-created by its subscriber; until then /readyz is 503 and names
// it). /metrics has the services' metrics, the consumers' lag and the dead-letter queue's
// depth (bus.ConsumerCollector), triggerflow_build_info, and Go and process metrics.
//
// With admin.pprof the admin listener also serves net/http/pprof under /debug/pprof/. The
// handlers are registered on the admin listener's own mux only: the package's init adds
// them to http.DefaultServeMux as well, but no server of triggerflow serves that mux.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/buildinfo"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// NewRegistry returns a registry with the Go runtime and process collectors and
// triggerflow_build_info.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Read().Collector())
	return r
}

// Handler serves the three operational endpoints.
type Handler struct {
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	// Consumers, when set, must all be consuming for /readyz to be 200.
	Consumers *bus.Consumers
	// ReadyTimeout bounds one readiness probe of JetStream. Default 2s.
	ReadyTimeout time.Duration
	// started is set by MarkStarted; nil (a Handler built by hand): started.
	started *atomic.Bool
}

// MarkStarted makes /readyz depend on JetStream and the consumers only: the process's
// start has finished. The app calls it from the last start hook.
func (h Handler) MarkStarted() {
	if h.started != nil {
		h.started.Store(true)
	}
}

// pprofWarning is logged once at start when admin.pprof is on.
const pprofWarning = "admin.pprof is on: /debug/pprof/ exposes profiles and the command line on the admin listener; keep it off in production"

// Mount adds /healthz, /readyz and /metrics to mux.
func (h Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.Registry, promhttp.HandlerOpts{Registry: h.Registry}))
}

// MountPprof adds net/http/pprof's handlers to mux, as its init adds them to
// http.DefaultServeMux: the index (which also serves the named profiles, e.g.
// /debug/pprof/heap and /debug/pprof/goroutine), cmdline, profile, symbol and trace. Only
// the admin listener mounts them (admin.pprof), never the ingress's.
func MountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

func (h Handler) ready(w http.ResponseWriter, r *http.Request) {
	timeout := h.ReadyTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.started != nil && !h.started.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: starting (ensuring streams, buckets and consumers)\n"))
		return
	}
	err := natsconn.Ready(ctx, h.JS)
	if err == nil && h.Consumers != nil {
		err = h.Consumers.Ready(ctx)
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// HandlerParams are the inputs of NewHandler.
type HandlerParams struct {
	fx.In
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	// Drain is the process's consumers (absent in the ingress alone, which has none).
	Drain *bus.Drain `optional:"true"`
}

// NewHandler returns the Handler and, in a process with consumers, registers their
// collector (lag, dead letters) and makes them part of readiness.
func NewHandler(p HandlerParams) (Handler, error) {
	h := Handler{JS: p.JS, Registry: p.Registry, started: new(atomic.Bool)}
	if p.Drain != nil {
		h.Consumers = p.Drain.Consumers()
		if err := p.Registry.Register(&bus.ConsumerCollector{JS: p.JS, Consumers: h.Consumers}); err != nil {
			return Handler{}, fmt.Errorf("register consumer metrics: %w", err)
		}
	}
	return h, nil
}

// Module provides the registry and the Handler.
var Module = fx.Module("health",
	fx.Provide(NewRegistry),
	fx.Provide(NewHandler),
)

// ServerModule serves the Handler on admin.listen, for the commands without the ingress,
// with /debug/pprof/ when admin.pprof is on.
var ServerModule = fx.Module("admin",
	fx.Invoke(func(lc fx.Lifecycle, c *config.Config, h Handler, log *slog.Logger) {
		mux := http.NewServeMux()
		h.Mount(mux)
		endpoints := "/healthz /readyz /metrics"
		if c.Admin.Pprof {
			MountPprof(mux)
			endpoints += " /debug/pprof/"
		}
		serveAdmin(lc, c.Admin, mux, endpoints, log)
	}),
)

// PprofModule is admin.pprof for the commands with the ingress (ingress, all), whose
// /healthz, /readyz and /metrics are on the ingress's own listener, which mediators and
// ITSM servers reach: profiles never go there. With admin.pprof on, admin.listen serves
// /debug/pprof/ alone; off, nothing listens on it.
var PprofModule = fx.Module("pprof",
	fx.Invoke(func(lc fx.Lifecycle, c *config.Config, log *slog.Logger) {
		if !c.Admin.Pprof {
			return
		}
		mux := http.NewServeMux()
		MountPprof(mux)
		serveAdmin(lc, c.Admin, mux, "/debug/pprof/", log)
	}),
)

// serveAdmin serves mux on a.Listen from start to stop, with the warning of admin.pprof.
func serveAdmin(lc fx.Lifecycle, a config.Admin, mux *http.ServeMux, endpoints string, log *slog.Logger) {
	srv := &http.Server{Addr: a.Listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", a.Listen)
			if err != nil {
				return fmt.Errorf("admin.listen %s: %w", a.Listen, err)
			}
			if a.Pprof {
				log.Warn(pprofWarning)
			}
			log.Info("admin listening", "url", "http://"+ln.Addr().String(), "endpoints", endpoints)
			go func() { _ = srv.Serve(ln) }()
			return nil
		},
		OnStop: func(ctx context.Context) error { return srv.Shutdown(ctx) },
	})
}
