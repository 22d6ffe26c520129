package tracing_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

// collector is an OTLP/HTTP stand-in that records each export.
type collector struct {
	mu      sync.Mutex
	paths   []string
	headers []http.Header
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path)
	c.headers = append(c.headers, r.Header.Clone())
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
}

func runApp(t *testing.T, cfg *config.Config, extra ...fx.Option) (trace.TracerProvider, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	var tp trace.TracerProvider
	app := fxtest.New(t, append([]fx.Option{
		fx.NopLogger, fx.Supply(cfg),
		fx.Provide(func() *slog.Logger { return slog.New(slog.NewTextHandler(&logs, nil)) }),
		tracing.Module("itsm-sync"), fx.Populate(&tp),
	}, extra...)...)
	app.RequireStart()
	span := func() {
		_, s := tracing.Tracer(tp).Start(context.Background(), "test.span")
		s.End()
	}
	span()
	app.RequireStop()
	return tp, &logs
}

// TestOTLPExportFlushedAtStop: with exporter otlp, spans are batched and the batch is
// exported when the app stops, to <endpoint>/v1/traces with the configured headers
// (read from the environment), which are never logged; plain HTTP is logged as such.
func TestOTLPExportFlushedAtStop(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	t.Setenv("TF_OTLP_AUTH", "Bearer hunter2")
	cfg, err := config.Parse("t.yaml", []byte("tracing:\n  exporter: otlp\n  endpoint: "+srv.URL+"/otel/\n  insecure: true\n"+
		"  headers:\n    Authorization: {value_env: TF_OTLP_AUTH}\n    X-Scope-OrgID: {value: tenant-1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, logs := runApp(t, cfg)
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.paths) != 1 || col.paths[0] != "/otel/v1/traces" {
		t.Fatalf("exports %v, want one to /otel/v1/traces (the batch flushed at stop)", col.paths)
	}
	if h := col.headers[0]; h.Get("Authorization") != "Bearer hunter2" || h.Get("X-Scope-OrgID") != "tenant-1" {
		t.Errorf("export headers %v", h)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("a header value was logged:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "tracing.insecure is on") || !strings.Contains(logs.String(), "service_name=triggerflow-itsm-sync") {
		t.Errorf("start-up logs:\n%s", logs)
	}
}

// TestStandardEnvEndpoint: without tracing.endpoint the SDK's OTEL_EXPORTER_OTLP_ENDPOINT
// is used (with /v1/traces appended, as the specification says).
func TestStandardEnvEndpoint(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	cfg, err := config.Parse("t.yaml", []byte("tracing: {exporter: otlp}\n"))
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, cfg)
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.paths) != 1 || col.paths[0] != "/v1/traces" {
		t.Fatalf("exports %v, want one to /v1/traces", col.paths)
	}
}

// TestOffIsNoop: tracing off (the default) gives a no-op provider: nothing recorded,
// nothing exported; an exporter supplied by a test turns it on.
func TestOffIsNoop(t *testing.T) {
	t.Parallel()
	tp, _ := runApp(t, config.Default())
	if _, ok := tp.(*sdktrace.TracerProvider); ok {
		t.Fatal("tracing off built the SDK provider")
	}
	_, s := tracing.Tracer(tp).Start(context.Background(), "x")
	if s.IsRecording() || s.SpanContext().IsValid() {
		t.Fatal("a span was recorded with tracing off")
	}

	exp := &keep{}
	runApp(t, config.Default(), fx.Supply(fx.Annotate(exp, fx.As(new(sdktrace.SpanExporter)))))
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if len(exp.spans) != 1 || exp.spans[0].Name() != "test.span" || !exp.shutdown {
		t.Fatalf("supplied exporter got %d spans, shut down %v", len(exp.spans), exp.shutdown)
	}
	if sn, _ := exp.spans[0].Resource().Set().Value("service.name"); sn.AsString() != "triggerflow-itsm-sync" {
		t.Errorf("service.name %q", sn.AsString())
	}
}

// keep is an exporter that keeps what it got after Shutdown (the in-memory one forgets).
type keep struct {
	mu       sync.Mutex
	spans    []sdktrace.ReadOnlySpan
	shutdown bool
}

func (k *keep) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.spans = append(k.spans, s...)
	return nil
}

func (k *keep) Shutdown(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.shutdown = true
	return nil
}
