package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/pkg/events"
)

func newTracer(t *testing.T) (trace.Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp.Tracer("test"), exp
}

// TestMarshalPropagatesTraceContext: a published message carries the span of its
// context as exactly `traceparent` (lower case, as nats CLI users see it); the consumed
// message's context holds it as the remote parent, so the consumer's span is its child
// in the same trace.
func TestMarshalPropagatesTraceContext(t *testing.T) {
	t.Parallel()
	tr, _ := newTracer(t)
	ctx, span := tr.Start(context.Background(), "producer")
	defer span.End()
	in := message.NewMessage("id-1", []byte(`{}`))
	in.Metadata.Set("Scw-Event", "CREATE")
	in.SetContext(ctx)

	nm, err := bus.Marshaler{}.Marshal("scw.trigger.create.1", in)
	if err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	tp := nm.Header[tracing.HdrTraceparent]
	if len(tp) != 1 || tp[0] != "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01" {
		t.Fatalf("traceparent %q, want the producer's span %s/%s", tp, sc.TraceID(), sc.SpanID())
	}
	for k := range nm.Header {
		if strings.EqualFold(k, tracing.HdrTraceparent) && k != tracing.HdrTraceparent {
			t.Fatalf("header %q: want exactly %q", k, tracing.HdrTraceparent)
		}
	}

	out, err := bus.Marshaler{}.Unmarshal(nm)
	if err != nil {
		t.Fatal(err)
	}
	parent := trace.SpanContextFromContext(out.Context())
	if !parent.IsRemote() || parent.TraceID() != sc.TraceID() || parent.SpanID() != sc.SpanID() || !parent.IsSampled() {
		t.Fatalf("consumed context %+v, want the remote producer span", parent)
	}
	_, child := tr.Start(out.Context(), "consumer")
	defer child.End()
	if child.SpanContext().TraceID() != sc.TraceID() {
		t.Fatal("consumer span not in the producer's trace")
	}
}

// TestMarshalWithoutTraceContext: with no span (tracing off, a message published by
// hand) no traceparent is written and a consumed message without one has none: it
// flows the same.
func TestMarshalWithoutTraceContext(t *testing.T) {
	t.Parallel()
	in := message.NewMessage("id-2", []byte(`{}`))
	nm, err := bus.Marshaler{}.Marshal("scw.trigger.create.1", in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := nm.Header[tracing.HdrTraceparent]; ok || len(nm.Header) != 1 {
		t.Fatalf("headers %v: want only %s", nm.Header, nats.MsgIdHdr)
	}
	out, err := bus.Marshaler{}.Unmarshal(nm)
	if err != nil {
		t.Fatal(err)
	}
	if trace.SpanContextFromContext(out.Context()).IsValid() || out.UUID != "id-2" {
		t.Fatalf("consumed %+v", out)
	}

	// A malformed traceparent is ignored, not an error.
	nm.Header[tracing.HdrTraceparent] = []string{"00-nothex-x-01"}
	out, err = bus.Marshaler{}.Unmarshal(nm)
	if err != nil || trace.SpanContextFromContext(out.Context()).IsValid() {
		t.Fatalf("malformed traceparent: %v, %+v", err, out)
	}
}

// capture is a publisher that keeps what it is given.
type capture struct{ msgs []*message.Message }

func (c *capture) Publish(_ string, msgs ...*message.Message) error {
	c.msgs = append(c.msgs, msgs...)
	return nil
}
func (c *capture) Close() error { return nil }

// TestOutcomesCarryTheHandlersSpan: results and dead letters carry the span of the
// consumed message's context (the handler's), replacing the traceparent copied from the
// consumed headers; the span records the outcome and the error.
func TestOutcomesCarryTheHandlersSpan(t *testing.T) {
	t.Parallel()
	tr, exp := newTracer(t)
	producer, ps := tr.Start(context.Background(), "producer")
	ps.End()
	consumed := message.NewMessage("op-1", []byte(`{}`))
	consumed.Metadata.Set(bus.MetaStreamSeq, "7")
	consumed.Metadata.Set(tracing.HdrTraceparent, "00-"+ps.SpanContext().TraceID().String()+"-"+ps.SpanContext().SpanID().String()+"-01")
	ctx, span := tr.Start(producer, "handler")
	consumed.SetContext(ctx)

	var pub capture
	res := events.Result{OperationID: "op-1", Kind: events.OpITSM, Status: events.ResultFailed, Ticket: "1001"}
	if err := bus.PublishResult(&pub, consumed, res); err != nil {
		t.Fatal(err)
	}
	if err := bus.DeadLetter(&pub, consumed, "itsm-sync", "op-1", "1001", errors.New("HTTP 400"), 1); err != nil {
		t.Fatal(err)
	}
	span.End()
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	for _, m := range pub.msgs {
		nm, err := bus.Marshaler{}.Marshal("x", m)
		if err != nil {
			t.Fatal(err)
		}
		if got := nm.Header.Get(tracing.HdrTraceparent); got != want {
			t.Errorf("%s: traceparent %q, want the handler's %q", m.UUID, got, want)
		}
	}
	spans := exp.GetSpans()
	h := spans[len(spans)-1]
	attrs := map[string]string{}
	for _, a := range h.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if h.Name != "handler" || attrs["scw.outcome"] != "failed" || attrs["scw.dead_lettered"] != "true" || h.Status.Description != "HTTP 400" {
		t.Fatalf("handler span %s %v status %+v", h.Name, attrs, h.Status)
	}
}
