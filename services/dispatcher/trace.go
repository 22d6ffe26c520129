package dispatcher

import (
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Handle plans one trigger (handle), or one ITSM callback (handleInbound), in a consumer span named dispatcher.plan, child of
// the ingress's span that stored the trigger (its traceparent); SecureChange
// enrichment calls, the plan and every operation published are in it. Its
// scw.outcome is planned, failed (dead-lettered) or retry (NAKed with backoff).
func (d *Dispatcher) Handle(msg *message.Message) (err error) {
	tr := d.tracer
	if tr == nil {
		tr = tracing.Tracer(nil)
	}
	ctx, span := tr.Start(msg.Context(), tracing.SpanPlan, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		tracing.AttrTriggerID.String(msg.Metadata.Get(events.HdrTriggerID)),
		tracing.AttrTicketID.String(msg.Metadata.Get(events.HdrTicketID)),
		tracing.AttrEvent.String(msg.Metadata.Get(events.HdrEvent)),
		tracing.AttrSubject.String(msg.Metadata.Get(bus.MetaSubject)),
		tracing.AttrDelivery.Int(bus.Delivered(msg)),
		tracing.AttrOutcome.String(string(events.PlanPlanned)), // until a failure says otherwise
	))
	msg.SetContext(ctx)
	defer span.End()
	if strings.HasPrefix(msg.Metadata.Get(bus.MetaSubject), "scw.inbound.") {
		err = d.handleInbound(msg)
	} else {
		err = d.handle(msg)
	}
	if err != nil {
		span.SetAttributes(tracing.AttrOutcome.String("retry"))
		tracing.Fail(span, err)
	}
	return err
}
