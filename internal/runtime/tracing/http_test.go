package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

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

// seen is a RoundTripper that records the request it was given and answers 204.
type seen struct{ got *http.Request }

func (s *seen) RoundTrip(r *http.Request) (*http.Response, error) {
	s.got = r
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: r}, nil
}

// TestTransportOff: with tracing off (a nil or no-op provider) a request without a trace
// context goes to the wrapped transport as it is (no copy, no headers added); one that
// carries a propagated trace context keeps it: the server gets that traceparent.
func TestTransportOff(t *testing.T) {
	t.Parallel()
	for name, tp := range map[string]trace.TracerProvider{"nil": nil, "no-op": noop.NewTracerProvider()} {
		base := &seen{}
		cl := &http.Client{Transport: tracing.Transport(base, tp, tracing.SpanITSM)}
		req, _ := http.NewRequest(http.MethodGet, "http://snow.example/api/x", nil)
		resp, err := cl.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if base.got != req || len(req.Header) != 0 {
			t.Errorf("%s provider, no trace context: the request was copied (%t) or given headers %v", name, base.got != req, req.Header)
		}

		const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": parent})
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://snow.example/api/x", nil)
		if resp, err = cl.Transport.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := base.got.Header.Get("traceparent"); got != parent || req.Header.Get("traceparent") != "" {
			t.Errorf("%s provider, propagated trace context: sent traceparent %q, want %q; the caller's request has %q", name, got, parent, req.Header.Get("traceparent"))
		}
	}
}

// BenchmarkTransportOff is a request through the transport with tracing off and no trace
// context, against the wrapped transport alone.
func BenchmarkTransportOff(b *testing.B) {
	req, _ := http.NewRequest(http.MethodPost, "http://snow.example:8443/api/now/table/change_request", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "triggerflow")
	for name, rt := range map[string]http.RoundTripper{
		"wrapped": tracing.Transport(&seen{}, noop.NewTracerProvider(), tracing.SpanITSM, tracing.AttrServer.String("snow")),
		"bare":    &seen{},
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
