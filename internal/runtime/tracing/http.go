package tracing

import (
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Transport wraps base so that every request is a client span named name, child of the
// request's context, and carries that span's traceparent (standard W3C Trace Context
// behaviour: the server may join the trace). The span records the method, host, port
// and path (never the query, headers or bodies) and the response status; a transport
// error or a status of 400 and above sets an error status. A nil or no-op tp is tracing
// off: the request still carries the context it came with (a propagated traceparent),
// unchanged, and a request without one is sent as it is, not copied.
func Transport(base http.RoundTripper, tp trace.TracerProvider, name string, attrs ...attribute.KeyValue) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	_, off := tp.(noop.TracerProvider)
	return &transport{base: base, tracer: Tracer(tp), off: off || tp == nil, name: name, attrs: attrs}
}

type transport struct {
	base   http.RoundTripper
	tracer trace.Tracer
	off    bool // tracing off: no span of its own
	name   string
	attrs  []attribute.KeyValue
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.off && !trace.SpanContextFromContext(r.Context()).IsValid() {
		// Nothing to record or propagate: the span, the copy of the request and its
		// headers would cost every call (BenchmarkTransportOff) for nothing.
		return t.base.RoundTrip(r)
	}
	attrs := append([]attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
		attribute.String("server.address", r.URL.Hostname()),
		attribute.String("url.path", r.URL.Path),
	}, t.attrs...)
	if p := r.URL.Port(); p != "" {
		attrs = append(attrs, attribute.String("server.port", p))
	}
	ctx, span := t.tracer.Start(r.Context(), t.name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	r = r.Clone(ctx) // a RoundTripper must not change the caller's request
	propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		Fail(span, err)
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", resp.StatusCode))
	}
	return resp, nil
}

// Unwrap is the wrapped transport (for code that configures it, e.g. CloseIdleConnections).
func (t *transport) Unwrap() http.RoundTripper { return t.base }

// CloseIdleConnections closes the wrapped transport's idle connections
// (http.Client.CloseIdleConnections reaches it through the wrapper).
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
