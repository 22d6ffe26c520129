package bus

import (
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// Outgoing is one message of a batch and its subject.
type Outgoing struct {
	Subject string
	Msg     *message.Message
}

// Batcher stores several messages, on any subjects, in one round trip: each is sent as an
// asynchronous JetStream publish, then every acknowledgement is awaited. The messages go
// out in the order given on one connection, so those of one stream are stored in that
// order. Publish returns only once all were acknowledged, or with the error of the first
// that was not: a retry of the whole batch stores nothing twice (each message's UUID is
// its Nats-Msg-Id, as with NewPublisher).
type Batcher struct {
	js   nats.JetStreamContext
	wait time.Duration
}

// NewBatcher returns a Batcher on nc; c.AckWait bounds the wait for a batch's
// acknowledgements (default 10s), a stream without a leader retried meanwhile
// (retryWait).
func NewBatcher(nc *nats.Conn, c PublisherConfig) (*Batcher, error) {
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("jetstream batch publisher: %w", err)
	}
	wait := c.AckWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	return &Batcher{js: js, wait: wait}, nil
}

// Publish stores out, every acknowledgement awaited (see Batcher).
func (b *Batcher) Publish(out ...Outgoing) error {
	futures := make([]nats.PubAckFuture, 0, len(out))
	for _, o := range out {
		m, err := Marshaler{}.Marshal(o.Subject, o.Msg)
		if err != nil {
			return &PublishError{Subject: o.Subject, cause: err}
		}
		f, err := b.js.PublishMsgAsync(m, nats.RetryWait(retryWait), nats.RetryAttempts(int(b.wait/retryWait)))
		if err != nil {
			return &PublishError{Subject: o.Subject, cause: err}
		}
		futures = append(futures, f)
	}
	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	var first error
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if first == nil {
				first = &PublishError{Subject: out[i].Subject, cause: err}
			}
		case <-timer.C:
			return &PublishError{Subject: out[i].Subject, cause: fmt.Errorf("no acknowledgement within %s: %w", b.wait, nats.ErrTimeout)}
		}
	}
	return first
}
