package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// Batch is what FetchBatch pulled at once; it is settled as a whole.
type Batch struct {
	Messages []*message.Message
	msgs     []jetstream.Msg
}

// FetchBatch pulls up to n messages that are available now from the durable consumer c
// (created by EnsureConsumer), without waiting for more. For work done on many messages
// at once (a digest email); each message stays pending until the batch is settled.
func FetchBatch(ctx context.Context, js jetstream.JetStream, c natsconn.ConsumerConfig, n int) (*Batch, error) {
	cons, err := js.Consumer(ctx, c.Stream, c.Durable)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	mb, err := cons.FetchNoWait(n)
	if err != nil {
		return nil, fmt.Errorf("fetch from %s: %w", c.Durable, err)
	}
	b := &Batch{}
	for m := range mb.Messages() {
		b.msgs = append(b.msgs, m)
		b.Messages = append(b.Messages, toWatermill(m))
	}
	if err := mb.Error(); err != nil && len(b.msgs) == 0 {
		return nil, fmt.Errorf("fetch from %s: %w", c.Durable, err)
	}
	return b, nil
}

// Ack acknowledges every message, waiting for the server's confirmation of each.
func (b *Batch) Ack(ctx context.Context) error {
	for _, m := range b.msgs {
		if err := m.DoubleAck(ctx); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
	return nil
}

// Nak gives every message back, to be redelivered after delay.
func (b *Batch) Nak(delay time.Duration) {
	for _, m := range b.msgs {
		_ = m.NakWithDelay(delay)
	}
}
