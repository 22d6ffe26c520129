package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

// TestTransport: each request is a client span, child of the request's context, whose
// traceparent the server receives; the caller's request is not changed; the span has
// method, host and path but never the query or headers; a 5xx is an error status.
func TestTransport(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("traceparent"))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, parent := tp.Tracer("t").Start(context.Background(), "parent")
	cl := &http.Client{Transport: tracing.Transport(nil, tp, tracing.SpanITSM, tracing.AttrServer.String("snow"))}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/x?token=hunter2", nil)
	req.Header.Set("Authorization", "Bearer hunter2")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was changed")
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Name != tracing.SpanITSM || s.Parent.SpanID() != parent.SpanContext().SpanID() || s.Status.Code != codes.Error || s.Status.Description != "HTTP 503" {
		t.Errorf("span %s parent %s status %+v", s.Name, s.Parent.SpanID(), s.Status)
	}
	if want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"; len(got) != 1 || got[0] != want {
		t.Errorf("server got traceparent %q, want %q", got, want)
	}
	for _, a := range s.Attributes {
		if strings.Contains(a.Value.Emit(), "hunter2") {
			t.Errorf("attribute %s holds the query or a header: %s", a.Key, a.Value.Emit())
		}
	}
	if tracing.Tracer(nil) == nil {
		t.Fatal("no tracer for a nil provider")
	}
}
