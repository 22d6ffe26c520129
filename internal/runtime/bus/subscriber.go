package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
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

// lanePull is how many messages a lane's pull request asks for (one comes at a time).
const lanePull = 16

// maxHold bounds how long the subscriber keeps a handled message alive with
// in-progress acks: a handler stuck longer gives the message back to the server.
const maxHold = 30 * time.Minute

// Subscriber is a watermill Subscriber over one durable pull consumer (nats.go's
// jetstream API). A handler's Ack is an ack (double, unless FastAck); a Nack is a NAK
// with the configured backoff for that delivery, or the delay set by NackAfter.
//
// Stopping (the subscription's context ends) is graceful: the subscriber stops pulling,
// gives back at once (NAK without delay) what it pulled but did not hand out, and
// waits for the message being handled to be settled until the Drain's deadline; then
// it cancels that message's context and, if the handler still does not settle it,
// gives it back too. So a restart or another replica takes over within seconds, never
// after AckWait.
//
// A consumer deleted while the process runs (the server ends the pull with "consumer
// deleted", or heartbeats are missed and the consumer is not found) is re-created with the
// same settings and consumed again; meanwhile the subscriber is not consuming
// (Drain.Consumers, so /readyz fails naming it). An ordered lane is re-created from the
// message after the last one it acknowledged, so the stream is not replayed (a message
// another replica acknowledged after that is redelivered and found done); other consumers
// start over (DeliverAll), their handlers being idempotent.
//
// It is our own rather than watermill-nats' jetstream subscriber (beta), whose output
// channel can be closed while a message is being sent on it at shutdown, and which has
// no way to bind to a durable pull consumer created with explicit settings.
// Close never closes the shared connection.
type Subscriber struct {
	js    jetstream.JetStream
	cfg   natsconn.ConsumerConfig
	log   watermill.LoggerAdapter
	drain *Drain

	state     *subState     // in drain.Consumers()
	lastAcked atomic.Uint64 // stream sequence of the last message acknowledged

	mu     sync.Mutex
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// RecreateBackoff is the wait before the first attempt to re-create a deleted consumer
// (doubling up to MaxRecreateBackoff): a person deleting consumers by hand sees the
// readiness fail, and a broker that refuses is not hammered.
const (
	RecreateBackoff    = time.Second
	MaxRecreateBackoff = 30 * time.Second
)

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber for the consumer c (created by EnsureConsumer).
// drain may be nil (a stop then gives back in-flight messages at once).
func NewSubscriber(js jetstream.JetStream, c natsconn.ConsumerConfig, drain *Drain, log watermill.LoggerAdapter) *Subscriber {
	switch {
	case c.Ordered:
		// The server hands a lane one message at a time whatever the request asks; one
		// pull request for several spares a request per message (and nats.go's pull
		// with a batch of one can miss its next pull until a heartbeat is missed).
		c.PullBatch = lanePull
	case c.PullBatch <= 0:
		c.PullBatch = 1
	}
	if drain == nil {
		drain = NewDrain(0)
	}
	return &Subscriber{js: js, cfg: c, log: log, drain: drain, state: drain.Consumers().register(c), stop: make(chan struct{})}
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
	it, err := s.messages(cons)
	if err != nil {
		return nil, err
	}
	cur := &liveIter{it: it}
	states := s.drain.Consumers()
	states.set(s.state, StateConsuming, "")
	// stopping ends when the subscription, the subscriber or the process (the drain)
	// stops; the iterator is drained then, so what it buffered is given back.
	stopping, cancel := context.WithCancel(ctx)
	out := make(chan *message.Message)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.stop:
		case <-s.drain.Begun():
		}
		cancel()
		states.set(s.state, StateStopped, "")
		cur.drain()
	}()
	go func() { // the only goroutine that sends on, and closes, out
		defer s.wg.Done()
		defer close(out)
		for {
			m, err := cur.get().Next()
			if err == nil {
				if stopping.Err() != nil {
					s.giveBack(m)
					continue
				}
				s.deliver(stopping, m, out)
				continue
			}
			if stopping.Err() != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				continue
			}
			switch {
			case errors.Is(err, jetstream.ErrNoHeartbeat):
				if !s.consumerGone(stopping) {
					continue // the iterator pulls again by itself
				}
				err = fmt.Errorf("heartbeats missed: %w", jetstream.ErrConsumerNotFound)
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
				errors.Is(err, jetstream.ErrMsgIteratorClosed):
			default:
				s.log.Error("pull failed", err, watermill.LogFields{"consumer": s.cfg.Durable})
				continue
			}
			if !s.recover(stopping, cur, err) {
				return
			}
		}
	}()
	return out, nil
}

// messages starts pulling from cons; missed heartbeats are reported, so that a consumer
// deleted without a word is noticed.
func (s *Subscriber) messages(cons jetstream.Consumer) (jetstream.MessagesContext, error) {
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.PullBatch), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", s.cfg.Durable, err)
	}
	return it, nil
}

// consumerGone asks the server whether the consumer still exists (false when it does not
// answer: that is the connection's problem, not the consumer's).
func (s *Subscriber) consumerGone(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Durable)
	return errors.Is(err, jetstream.ErrConsumerNotFound)
}

// recover re-creates the lost consumer (with backoff) and consumes it again, and reports
// false if the subscription stopped first. It logs the loss once and the recovery once.
func (s *Subscriber) recover(stopping context.Context, cur *liveIter, cause error) bool {
	states := s.drain.Consumers()
	reason := "pull ended: " + cause.Error()
	if errors.Is(cause, jetstream.ErrConsumerDeleted) || errors.Is(cause, jetstream.ErrConsumerNotFound) {
		reason = "consumer deleted"
	}
	states.set(s.state, StateLost, reason)
	s.log.Error("consumer lost; re-creating it with its configured settings", cause, watermill.LogFields{"consumer": s.cfg.Durable, "stream": s.cfg.Stream})
	cur.get().Stop()
	lost := time.Now()
	delay := RecreateBackoff
	for attempt := 1; ; attempt++ {
		select {
		case <-stopping.Done():
			return false
		case <-time.After(delay):
		}
		it, created, err := s.resubscribe(stopping)
		if err != nil {
			states.set(s.state, StateLost, reason+"; re-creating: "+err.Error())
			s.log.Debug("re-creating the consumer failed; trying again", watermill.LogFields{"consumer": s.cfg.Durable, "attempt": attempt, "error": err.Error()})
			delay = min(2*delay, MaxRecreateBackoff)
			continue
		}
		cur.swap(it) // drained at once if the subscription stopped meanwhile
		if created {
			states.recreated(s.state)
		}
		if stopping.Err() != nil {
			return true // the loop gives back what the new iterator pulled, then ends
		}
		states.set(s.state, StateConsuming, "")
		s.log.Info("consumer back; consuming again", watermill.LogFields{"consumer": s.cfg.Durable, "stream": s.cfg.Stream,
			"recreated_here": created, "after": time.Since(lost).Round(time.Millisecond).String(), "attempts": attempt})
		return true
	}
}

// resubscribe binds to the consumer again, re-creating it if it is still missing (another
// replica may have re-created it already); created says this subscriber did.
func (s *Subscriber) resubscribe(ctx context.Context) (it jetstream.MessagesContext, created bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		jc := s.cfg.JetStream()
		if last := s.lastAcked.Load(); s.cfg.Ordered && last > 0 {
			jc.DeliverPolicy, jc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
		}
		cons, err = s.js.CreateConsumer(ctx, s.cfg.Stream, jc)
		created = err == nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("consumer %s on %s: %w", s.cfg.Durable, s.cfg.Stream, err)
	}
	it, err = s.messages(cons)
	return it, created, err
}

// liveIter is the subscription's current iterator, replaced when the consumer is
// re-created; once drained (the stop), every later one is drained too.
type liveIter struct {
	mu      sync.Mutex
	it      jetstream.MessagesContext
	drained bool
}

func (l *liveIter) get() jetstream.MessagesContext {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.it
}

func (l *liveIter) drain() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drained = true
	l.it.Drain()
}

func (l *liveIter) swap(it jetstream.MessagesContext) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.it = it
	if l.drained {
		it.Drain()
	}
}

// handBack is the delay of a NAK meant as "at once": a NAK with a delay, however short,
// is written to the consumer's stored state (nats-server moves the message's pending
// time), where a plain NAK only queues the message in the server's memory. A server that
// restarts before redelivering it (the embedded server of `triggerflow all` stops with
// its process) forgets a plain NAK, and the message waits out the rest of its AckWait.
const handBack = time.Millisecond

// giveBack NAKs m at once (handBack): another replica (or this one after a restart)
// takes it.
func (s *Subscriber) giveBack(m jetstream.Msg) {
	if err := m.NakWithDelay(handBack); err != nil {
		s.log.Error("give back failed; the message will be redelivered after AckWait", err, watermill.LogFields{"consumer": s.cfg.Durable})
	}
}

// deliver hands one message to the handler and settles it.
func (s *Subscriber) deliver(stopping context.Context, m jetstream.Msg, out chan<- *message.Message) {
	wm := toWatermill(m)
	// The handler's context is not the subscription's: a stop lets it finish (drain);
	// only the drain's deadline cancels it. It carries the trace context of the span
	// that published the message (its traceparent header), if any.
	mctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wm.SetContext(tracing.ExtractMetadata(mctx, wm.Metadata))
	select {
	case out <- wm:
	case <-stopping.Done():
		s.giveBack(m)
		return
	}
	heartbeat := time.NewTicker(max(s.cfg.AckWait/3, 50*time.Millisecond))
	defer heartbeat.Stop()
	held := time.Now()
	stop := stopping.Done()
	var deadline <-chan struct{} // the drain's, once stopping
	var grace <-chan time.Time   // after the deadline cancelled the handler's context
	for {
		select {
		case <-wm.Acked():
			s.ack(m, wm)
			return
		case <-wm.Nacked():
			s.nak(m, wm)
			return
		case <-heartbeat.C:
			if time.Since(held) < maxHold && s.cfg.AckWait > 0 {
				_ = m.InProgress()
			}
		case <-stop: // the handler may finish until the drain's deadline
			stop, deadline = nil, s.drain.Deadline()
		case <-deadline: // the handler's request is cut off: its outcome is unknown
			deadline = nil
			cancel()
			grace = time.After(DrainGrace)
		case <-grace:
			s.log.Info("handler did not settle its message after the drain; given back", watermill.LogFields{"consumer": s.cfg.Durable, "msg": wm.UUID})
			s.giveBack(m)
			return
		}
	}
}

func (s *Subscriber) ack(m jetstream.Msg, wm *message.Message) {
	var err error
	if s.cfg.FastAck {
		err = m.Ack()
	} else {
		ackCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = m.DoubleAck(ackCtx)
	}
	if err != nil {
		s.log.Error("ack failed; the message will be redelivered", err, watermill.LogFields{"consumer": s.cfg.Durable, "msg": wm.UUID})
		return
	}
	if md, err := m.Metadata(); err == nil {
		s.lastAcked.Store(md.Sequence.Stream)
	}
}

func (s *Subscriber) nak(m jetstream.Msg, wm *message.Message) {
	var delivered uint64 = 1
	if md, err := m.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	delay := s.cfg.Delay(delivered)
	if d, err := time.ParseDuration(wm.Metadata.Get(MetaNakDelay)); err == nil && d >= 0 {
		delay = d
	}
	err := m.NakWithDelay(max(delay, handBack))
	if err != nil {
		s.log.Error("nak failed; the message will be redelivered after AckWait", err, watermill.LogFields{"consumer": s.cfg.Durable, "msg": wm.UUID})
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

// StreamSeq is the stream sequence of a consumed message (0 if unknown).
func StreamSeq(m *message.Message) uint64 {
	n, _ := strconv.ParseUint(m.Metadata.Get(MetaStreamSeq), 10, 64)
	return n
}

// NackAfter Nacks m so that it is redelivered after d instead of the consumer's backoff.
// The span of m's context records the outcome retry and the delay.
func NackAfter(m *message.Message, d time.Duration) {
	trace.SpanFromContext(m.Context()).SetAttributes(tracing.AttrOutcome.String("retry"), tracing.AttrNakDelay.String(max(d, 0).String()))
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
