package bus

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

// Marshaler maps watermill messages to NATS messages for JetStream:
//   - the watermill UUID travels as Nats-Msg-Id, the header JetStream deduplicates on, so
//     a message published again with the same UUID (a retry, a replay) is stored once;
//   - metadata travels as NATS headers, one each, exactly as set (Scw-Trigger-Id, …);
//   - on consumption the UUID comes back from Nats-Msg-Id, which the adapter's own
//     marshaler would drop (DESIGN §14);
//   - the trace context of the message's context (msg.Context(): the span that produced
//     it) travels as the W3C `traceparent` and `tracestate` headers, replacing any copied
//     from metadata; on consumption the message's context holds it as the remote parent.
//     A message without one (tracing off, published by hand) flows the same.
//
// Unlike the adapter's NATSMarshaler it adds no _watermill_message_uuid header: a stored
// message carries only what a person reading `nats stream view` needs.
type Marshaler struct{}

// Marshal implements the adapter's Marshaler.
func (Marshaler) Marshal(topic string, msg *message.Message) (*nats.Msg, error) {
	h := make(nats.Header, len(msg.Metadata)+1)
	for k, v := range msg.Metadata {
		h[k] = []string{v}
	}
	if msg.UUID != "" {
		h[nats.MsgIdHdr] = []string{msg.UUID}
	}
	tracing.Inject(msg.Context(), h)
	return &nats.Msg{Subject: topic, Data: msg.Payload, Header: h}, nil
}

// Unmarshal implements the adapter's Unmarshaler.
func (Marshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	md := make(message.Metadata, len(m.Header))
	for k, v := range m.Header {
		if k == nats.MsgIdHdr || len(v) == 0 {
			continue
		}
		md[k] = v[0]
	}
	out := message.NewMessage(m.Header.Get(nats.MsgIdHdr), m.Data)
	out.Metadata = md
	out.SetContext(tracing.ExtractMetadata(context.Background(), md))
	return out, nil
}
