package bus

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// PublishResult records how the operation of msg ended. Its message id includes the
// stream sequence of the operation's message: a redelivery stores the result once, a
// redrive (a new message) records its own result. The result carries the trace context
// of msg's context (the span that performed the operation), which records its status.
func PublishResult(pub message.Publisher, msg *message.Message, res events.Result) error {
	b, err := res.Marshal()
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	m := message.NewMessage(res.ID()+"-"+msg.Metadata.Get(MetaStreamSeq), b)
	for k, v := range res.Headers() {
		m.Metadata.Set(k, v)
	}
	m.SetContext(msg.Context())
	trace.SpanFromContext(msg.Context()).SetAttributes(tracing.AttrOutcome.String(string(res.Status)))
	return pub.Publish(res.Subject(), m)
}

// DeadLetter stores msg (an operation with op's id and ticket, either may be empty) on
// scw.dlq.<service>.<ticket> with the error, where it was going and how often it was
// tried, then acks it. A person redrives it with the nats CLI. On error nothing is
// acked, so the message is redelivered rather than lost. The dead letter carries the
// trace context of msg's context; its span records the error.
func DeadLetter(pub message.Publisher, msg *message.Message, service, opID, ticket string, cause error, attempts int) error {
	if ticket == "" {
		ticket = "unknown"
	}
	if opID == "" {
		opID = msg.UUID
	}
	dl := message.NewMessage("dlq-"+service+"-"+opID+"-"+msg.Metadata.Get(MetaStreamSeq), msg.Payload)
	for k, v := range msg.Metadata {
		switch k {
		case MetaDelivered, MetaStreamSeq, MetaSubject, MetaTimestamp, MetaNakDelay, events.HdrForce:
		default:
			dl.Metadata.Set(k, v)
		}
	}
	dl.Metadata.Set(events.HdrError, cause.Error())
	dl.Metadata.Set(events.HdrService, service)
	dl.Metadata.Set(events.HdrOriginalSubject, msg.Metadata.Get(MetaSubject))
	dl.Metadata.Set(events.HdrAttempt, fmt.Sprint(attempts))
	dl.SetContext(msg.Context())
	span := trace.SpanFromContext(msg.Context())
	span.SetAttributes(tracing.AttrOutcome.String(string(events.ResultFailed)), tracing.AttrDeadLtr.Bool(true))
	tracing.Fail(span, cause)
	if err := pub.Publish(fmt.Sprintf(events.SubjDLQT, service, ticket), dl); err != nil {
		return fmt.Errorf("dead-letter %s: %w", opID, err)
	}
	msg.Ack()
	return nil
}
