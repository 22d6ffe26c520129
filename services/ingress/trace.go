package ingress

import (
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// traced serves a trigger endpoint in a server span named ingress.receive: the root of
// the trigger's trace (or a child of the caller's, when the request carries a W3C
// traceparent). The trigger is published in it, so the dispatcher's span is its
// child. Attributes: method, path, status, and once the body is decoded the event,
// ticket id and trigger id; scw.outcome is stored, rejected, unavailable or test. No
// headers, credentials or bodies.
func (h *Handler) traced(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := tracing.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := h.tracer.Start(ctx, tracing.SpanIngress, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
		))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", sw.status))
		}
	}
}

// traceTrigger names the trigger on the request's span.
func traceTrigger(r *http.Request, ev events.TriggerEvent) {
	trace.SpanFromContext(r.Context()).SetAttributes(
		tracing.AttrEvent.String(string(ev.Event)),
		tracing.AttrTicketID.String(ev.Ticket.ID),
		tracing.AttrTriggerID.String(ev.ID),
	)
}

// traceOutcome records how the request ended on its span.
func traceOutcome(r *http.Request, outcome string) {
	trace.SpanFromContext(r.Context()).SetAttributes(tracing.AttrOutcome.String(outcome))
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
