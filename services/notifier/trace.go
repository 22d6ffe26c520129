package notifier

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// tracedSender makes each email handed to the SMTP server a client span
// (notifier.smtp.send), child of the operation's or alert's span: the number of
// recipients and the server, never addresses, subjects or bodies.
type tracedSender struct {
	Sender
	tracer trace.Tracer
	host   string
}

// traced wraps s; a nil tp records nothing, so s is returned as it is.
func traced(s Sender, tp trace.TracerProvider, host string) Sender {
	if tp == nil {
		return s
	}
	return tracedSender{Sender: s, tracer: tracing.Tracer(tp), host: host}
}

func (t tracedSender) Send(ctx context.Context, m mailer.Message) error {
	ctx, span := t.tracer.Start(ctx, tracing.SpanSMTP, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("server.address", t.host),
		tracing.AttrRcpts.Int(len(m.To)+len(m.Cc)),
	))
	defer span.End()
	err := t.Sender.Send(ctx, m)
	tracing.Fail(span, err)
	return err
}
