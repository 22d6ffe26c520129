package runner

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

// Handle is the watermill handler of the runner's consumers: handle, in one consumer
// span per delivery named <service>.operation (itsm-sync.operation,
// notifier.operation), child of the span that published the operation (its
// traceparent), with the operation's id, kind, target, route and action and its
// outcome (scw.outcome: the result's status, retry for a NAK, done for an operation
// found done or an alert sent). Every call Perform makes, and every message published
// while settling (result, dead letter, parked copy, released operations), is in it.
func (r *Runner) Handle(msg *message.Message) (err error) {
	ctx, span := tracing.Tracer(r.Tracing).Start(msg.Context(), fmt.Sprintf(tracing.SpanOperationFmt, r.Service),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			tracing.AttrSubject.String(msg.Metadata.Get(bus.MetaSubject)),
			tracing.AttrDelivery.Int(bus.Delivered(msg)),
			tracing.AttrOutcome.String("done"), // until settling says otherwise
		))
	msg.SetContext(ctx)
	defer func() {
		if p := recover(); p != nil {
			tracing.Fail(span, fmt.Errorf("panic: %v", p))
			span.End()
			panic(p)
		}
		tracing.Fail(span, err)
		span.End()
	}()
	return r.handle(msg)
}

// annotate adds the operation to the delivery's span.
func (j *Job) annotate() {
	span := trace.SpanFromContext(j.Msg.Context())
	if !span.IsRecording() {
		return // no tracing: no attributes to build
	}
	op := j.Op
	span.SetAttributes(
		tracing.AttrOpID.String(op.ID), tracing.AttrOpKind.String(string(op.Kind)), tracing.AttrOpTarget.String(op.Target),
		tracing.AttrRoute.String(op.Route), tracing.AttrAction.String(op.Action),
		tracing.AttrTicketID.String(op.Ticket), tracing.AttrTriggerID.String(op.TriggerID),
	)
}
