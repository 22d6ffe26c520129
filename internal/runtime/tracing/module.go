package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
)

// Params are the inputs of New.
type Params struct {
	fx.In
	Config *config.Config
	Log    *slog.Logger
	// Exporter, when supplied (tests: tracetest.NewInMemoryExporter), turns tracing on
	// whatever tracing.exporter says, and receives each span as it ends (synchronously).
	Exporter sdktrace.SpanExporter `optional:"true"`
}

// New returns the process's TracerProvider for command (all, ingress, dispatcher, …):
// a no-op when tracing is off, else the SDK with a parent-based ratio sampler, a batch
// span processor and the OTLP/HTTP exporter, shut down (what is buffered flushed) when
// lc stops, within fx's stop timeout. Without fx, lc may be nil: then call Shutdown on
// the returned provider (a *sdktrace.TracerProvider when on).
func New(lc fx.Lifecycle, command string, p Params) (trace.TracerProvider, error) {
	c := p.Config.Tracing
	if !c.Enabled() && p.Exporter == nil {
		return noop.NewTracerProvider(), nil
	}
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", c.ServiceName+"-"+command),
		attribute.String("service.namespace", "triggerflow"),
	))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.Ratio()))),
	}
	if p.Exporter != nil {
		opts = append(opts, sdktrace.WithSyncer(p.Exporter))
	} else {
		exp, where, err := otlpExporter(c, log)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		log.Info("tracing on: spans exported over OTLP/HTTP", "endpoint", where, "sample_ratio", c.Ratio(), "service_name", c.ServiceName+"-"+command)
	}
	tp := sdktrace.NewTracerProvider(opts...)
	if lc != nil {
		lc.Append(fx.Hook{OnStop: func(ctx context.Context) error {
			// Last to stop (services depend on it): the spans of the drained handlers are
			// in the batch; flush them within what is left of the stop timeout.
			if err := tp.Shutdown(ctx); err != nil {
				log.Warn("tracing: spans not all exported at stop", "err", err)
			}
			return nil
		}})
	}
	return tp, nil
}

// otlpExporter builds the OTLP/HTTP exporter of c. Without tracing.endpoint the SDK
// reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (and the other
// OTEL_EXPORTER_OTLP_* variables), else https://localhost:4318. where is for the log:
// the endpoint without credentials.
func otlpExporter(c config.Tracing, log *slog.Logger) (exp sdktrace.SpanExporter, where string, err error) {
	var opts []otlptracehttp.Option
	where = "from OTEL_EXPORTER_OTLP_* (default https://localhost:4318)"
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil {
			return nil, "", fmt.Errorf("tracing.endpoint: not a URL")
		}
		// Like OTEL_EXPORTER_OTLP_ENDPOINT: a base URL, spans go to <base>/v1/traces.
		u.Path = strings.TrimRight(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		where = u.Redacted()
	}
	if c.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
		log.Warn("tracing.insecure is on: spans (ticket and trigger ids, operation targets) travel to the collector over plain HTTP, unencrypted")
	} else if c.TLS.Enabled() { // else the SDK's: the system's roots, verification on
		tc, err := egress.TLSConfig("tracing.tls", c.TLS, log, "anyone on the path can impersonate the collector and read the spans and the tracing.headers sent to it")
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tc))
	}
	if len(c.Headers) > 0 {
		hs, err := c.ResolveHeaders()
		if err != nil {
			return nil, "", err
		}
		m := make(map[string]string, len(hs))
		for k, v := range hs {
			m[k] = v.Reveal()
		}
		opts = append(opts, otlptracehttp.WithHeaders(m))
	}
	exp, err = otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, "", fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return exp, where, nil
}

// Module provides the process's trace.TracerProvider for command (see New) and the W3C
// Trace Context propagator (Propagator; no otel globals are set, so several apps can
// share a test process). Services take the provider as an optional input: without this
// module they trace nothing. It is built
// where the module is listed (before the services), so its stop hook runs after theirs:
// the spans of the drained handlers are flushed.
func Module(command string) fx.Option {
	return fx.Module("tracing",
		fx.Provide(func(lc fx.Lifecycle, p Params) (trace.TracerProvider, error) { return New(lc, command, p) }),
		fx.Provide(Propagator),
		fx.Invoke(func(trace.TracerProvider) {}),
	)
}
