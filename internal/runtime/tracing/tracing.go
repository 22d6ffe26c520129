// Package tracing is triggerflow's OpenTelemetry tracing: the process's TracerProvider
// (a no-op when tracing.exporter is none; the SDK with a batch span processor and an
// OTLP/HTTP exporter when it is otlp), the W3C Trace Context propagation used on every
// JetStream message and outbound HTTP request, and the span names and attributes every
// service shares. One trace follows one trigger: the ingress's request span is its
// root, and each message carries the context of the span that published it in its
// `traceparent` (and `tracestate`) header.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Scope is the instrumentation scope of every tracer.
const Scope = "github.com/triggerflow/triggerflow"

// Headers of the W3C Trace Context, exactly as they travel in NATS message headers
// (NATS headers are case-sensitive: `nats` CLI users see them under these names).
const (
	HdrTraceparent = "traceparent"
	HdrTracestate  = "tracestate"
)

// Span names. They are stable: dashboards and queries use them (README, "Tracing").
const (
	SpanIngress      = "ingress.receive"    // server: one mediator POST
	SpanPlan         = "dispatcher.plan"    // consumer: planning one trigger
	SpanOperationFmt = "%s.operation"       // consumer: the runner performing one operation (<service>.operation)
	SpanITSM         = "itsm-sync.http"     // client: one request to an ITSM server
	SpanSecureChange = "securechange.http"  // client: one request to SecureChange's REST API
	SpanSMTP         = "notifier.smtp.send" // client: one email handed to the SMTP server
)

// Attribute keys of triggerflow's own (the HTTP ones are OpenTelemetry's semantic
// conventions).
const (
	AttrEvent     = attribute.Key("scw.event")
	AttrTicketID  = attribute.Key("scw.ticket_id")
	AttrTriggerID = attribute.Key("scw.trigger_id")
	AttrOpID      = attribute.Key("scw.operation_id")
	AttrOpKind    = attribute.Key("scw.operation.kind")
	AttrOpTarget  = attribute.Key("scw.operation.target")
	AttrRoute     = attribute.Key("scw.route")
	AttrAction    = attribute.Key("scw.action")
	AttrOutcome   = attribute.Key("scw.outcome")
	AttrDelivery  = attribute.Key("scw.delivery")
	AttrSubject   = attribute.Key("messaging.destination.name")
	AttrServer    = attribute.Key("scw.server")
	AttrDeadLtr   = attribute.Key("scw.dead_lettered")
	AttrNakDelay  = attribute.Key("scw.nak_delay")
	AttrPlanOps   = attribute.Key("scw.plan.operations")
	AttrRcpts     = attribute.Key("scw.email.recipients")
)

// propagator is the W3C Trace Context (traceparent, tracestate).
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Propagator is the W3C Trace Context propagator used for messages and HTTP requests.
func Propagator() propagation.TextMapPropagator { return propagator }

// Tracer is tp's tracer for triggerflow; a nil tp is the no-op provider (tracing off).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(Scope)
}

// Carrier adapts NATS-style headers (map of name to values, case-sensitive) to the
// propagator: Set writes exactly `traceparent`, never a canonicalised `Traceparent`.
type Carrier map[string][]string

func (c Carrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c Carrier) Set(key, value string) { c[key] = []string{value} }

func (c Carrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// Inject writes the trace context of ctx (the span that produces a message) into h,
// replacing what h had (headers copied from the consumed message). Without a valid
// span context in ctx, h is left as it is.
func Inject(ctx context.Context, h map[string][]string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	delete(h, HdrTraceparent)
	delete(h, HdrTracestate)
	propagator.Inject(ctx, Carrier(h))
}

// ExtractMetadata returns ctx with the remote span context of a consumed message's
// metadata (its traceparent), or ctx unchanged when it has none or a malformed one.
func ExtractMetadata(ctx context.Context, md map[string]string) context.Context {
	return propagator.Extract(ctx, propagation.MapCarrier(md))
}

// Fail records err on span: an exception event and an error status, both with
// Describe(err). Errors of triggerflow hold no secrets (they are redacted where they are
// made); Describe also leaves out the response bodies they quote.
func Fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	msg := Describe(err)
	span.AddEvent("exception", trace.WithAttributes(
		attribute.String("exception.type", fmt.Sprintf("%T", err)),
		attribute.String("exception.message", msg),
	))
	span.SetStatus(codes.Error, msg)
}

// Quoter is an error whose message quotes a response body (an excerpt, secrets
// stripped); SpanMessage is the same message without it. Spans never hold bodies.
type Quoter interface {
	error
	SpanMessage() string
}

// ResponseQuote starts the quoted response body in an error message ("…: 400 Bad
// Request; response: {…}"); Describe cuts a message there.
const ResponseQuote = "; response: "

// Describe is err's message for a span: a Quoter's message without its body, and
// everything from ResponseQuote on left out.
func Describe(err error) string {
	msg := err.Error()
	var q Quoter
	if errors.As(err, &q) {
		msg = strings.Replace(msg, q.Error(), q.SpanMessage(), 1)
	}
	if i := strings.Index(msg, ResponseQuote); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
