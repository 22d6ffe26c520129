package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata set on every consumed message, from JetStream's delivery info.
const (
	MetaDelivered = "Scw-Delivered" // how many times this message was delivered, 1 on the first
	MetaStreamSeq = "Scw-Stream-Seq"
	MetaSubject   = "Scw-Subject" // the subject it was stored on
	// MetaTimestamp is when the message was stored (RFC 3339, nanoseconds).
	MetaTimestamp = "Scw-Stored-At"
	// MetaNakDelay, set by a handler before it Nacks, overrides the consumer's backoff
	// for this redelivery (a time.Duration string), e.g. from an ITSM server's
	// Retry-After. Use NackAfter.
	MetaNakDelay = "Scw-Nak-Delay"
)

// ConsumerConfig declares a durable pull consumer, shared by every replica of a service.
type ConsumerConfig struct {
	Stream        string
	Durable       string // <service>-<handler>
	FilterSubject string // empty: the whole stream
	Description   string
	// AckWait must exceed the slowest handler: the server redelivers a message not
	// acknowledged within it (also while it waits in the pull buffer).
	AckWait time.Duration
	// MaxDeliver bounds deliveries; the handler dead-letters on the last one.
	MaxDeliver int
	// Backoff is the NAK delay after the Nth failed delivery (the last value repeats).
	Backoff []time.Duration
	// PullBatch is how many messages are pulled ahead. Keep it small (see AckWait).
	PullBatch int
	// FastAck acks without waiting for the server's confirmation. Only for handlers
	// that record their own completion (itsm-sync's scw_done), so a lost ack costs a
	// skipped redelivery, never a repeated side effect.
	FastAck bool
}

// EnsureConsumer creates or updates the durable pull consumer with explicit settings.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, c ConsumerConfig) (jetstream.Consumer, error) {
	cc := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   c.Description,
		FilterSubject: c.FilterSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		MaxAckPending: 1000,
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	return cons, nil
}

// Delay returns the NAK delay after the given delivery (1-based).
func (c ConsumerConfig) Delay(delivered uint64) time.Duration {
	if len(c.Backoff) == 0 {
		return 0
	}
	i := int(delivered) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(c.Backoff) {
		i = len(c.Backoff) - 1
	}
	return c.Backoff[i]
}

// Subscriber is a watermill Subscriber over one durable pull consumer (nats.go's
// jetstream API). A handler's Ack is a synchronous double ack; a Nack is a NAK with the
// configured backoff for that delivery. A message neither acked nor nacked when the
// subscription ends is left to the server, which redelivers it after AckWait.
//
// It is our own rather than watermill-nats' jetstream subscriber (beta), whose output
// channel can be closed while a message is being sent on it at shutdown, and which has
// no way to bind to a durable pull consumer created with explicit settings.
// Close never closes the shared connection.
type Subscriber struct {
	js  jetstream.JetStream
	cfg ConsumerConfig
	log watermill.LoggerAdapter

	mu     sync.Mutex
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber for the consumer c (created by EnsureConsumer).
func NewSubscriber(js jetstream.JetStream, c ConsumerConfig, log watermill.LoggerAdapter) *Subscriber {
	if c.PullBatch <= 0 {
		c.PullBatch = 1
	}
	return &Subscriber{js: js, cfg: c, log: log, stop: make(chan struct{})}
}

// Subscribe starts consuming. The topic is informational: the consumer's filter decides.
func (s *Subscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("subscriber closed")
	}
	cons, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Durable)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", s.cfg.Durable, s.cfg.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.PullBatch))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", s.cfg.Durable, err)
	}
	out := make(chan *message.Message)
	s.wg.Add(2)
	go func() { // ends the iterator when the subscription or the subscriber ends
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.stop:
		}
		it.Stop()
	}()
	go func() { // the only goroutine that sends on, and closes, out
		defer s.wg.Done()
		defer close(out)
		for {
			m, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				s.log.Error("pull failed", err, watermill.LogFields{"consumer": s.cfg.Durable})
				continue
			}
			s.deliver(ctx, m, out)
		}
	}()
	return out, nil
}

// deliver hands one message to the handler and settles it.
func (s *Subscriber) deliver(ctx context.Context, m jetstream.Msg, out chan<- *message.Message) {
	wm := toWatermill(m)
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wm.SetContext(mctx)
	select {
	case out <- wm:
	case <-ctx.Done():
		return
	case <-s.stop:
		return
	}
	select {
	case <-wm.Acked():
		if s.cfg.FastAck {
			if err := m.Ack(); err != nil {
				s.log.Error("ack failed; the message will be redelivered", err, watermill.LogFields{"consumer": s.cfg.Durable, "msg": wm.UUID})
			}
			return
		}
		ackCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.DoubleAck(ackCtx); err != nil {
			s.log.Error("ack failed; the message will be redelivered", err, watermill.LogFields{"consumer": s.cfg.Durable, "msg": wm.UUID})
		}
	case <-wm.Nacked():
		var delivered uint64 = 1
		if md, err := m.Metadata(); err == nil {
			delivered = md.NumDelivered
		}
		delay := s.cfg.Delay(delivered)
		if d, err := time.ParseDuration(wm.Metadata.Get(MetaNakDelay)); err == nil && d >= 0 {
			delay = d
		}
		if err := m.NakWithDelay(delay); err != nil {
			s.log.Error("nak failed; the message will be redelivered after AckWait", err, watermill.LogFields{"consumer": s.cfg.Durable, "msg": wm.UUID})
		}
	case <-ctx.Done(): // the router stopped mid-handling: the server redelivers after AckWait
	case <-s.stop:
	}
}

// toWatermill converts without failing: the UUID is Nats-Msg-Id (see Marshaler), a
// repeated header keeps its first value, and delivery info becomes metadata.
func toWatermill(m jetstream.Msg) *message.Message {
	h := m.Headers()
	md := make(message.Metadata, len(h)+3)
	for k, v := range h {
		if k != nats.MsgIdHdr && len(v) > 0 {
			md[k] = v[0]
		}
	}
	md[MetaSubject] = m.Subject()
	if info, err := m.Metadata(); err == nil {
		md[MetaDelivered] = strconv.FormatUint(info.NumDelivered, 10)
		md[MetaStreamSeq] = strconv.FormatUint(info.Sequence.Stream, 10)
		md[MetaTimestamp] = info.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	out := message.NewMessage(h.Get(nats.MsgIdHdr), m.Data())
	out.Metadata = md
	return out
}

// Delivered is the delivery count of a consumed message (1 on the first delivery).
func Delivered(m *message.Message) int {
	n, err := strconv.Atoi(m.Metadata.Get(MetaDelivered))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// StoredAt is when a consumed message was stored in its stream (zero if unknown).
func StoredAt(m *message.Message) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, m.Metadata.Get(MetaTimestamp))
	return t
}

// NackAfter Nacks m so that it is redelivered after d instead of the consumer's backoff.
func NackAfter(m *message.Message, d time.Duration) {
	m.Metadata.Set(MetaNakDelay, max(d, 0).String())
	m.Nack()
}

// Close stops every subscription and waits for them; the connection stays open.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
