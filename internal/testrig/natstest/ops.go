package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// Publish stores msgs quickly and in order (asynchronous publishes on one connection are
// stored in the order sent), then waits for every acknowledgement and fails the test on
// the first publish JetStream refused. A publisher with too many acknowledgements
// outstanding waits for them (up to a minute, not nats.go's 200 ms), so a loaded machine
// slows the test down rather than failing it.
func Publish(tb testing.TB, nc *nats.Conn, msgs []*nats.Msg) {
	tb.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512), jetstream.WithPublishAsyncTimeout(5*time.Minute))
	if err != nil {
		tb.Fatal(err)
	}
	acks := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute))
		if err != nil {
			tb.Fatalf("natstest: publish on %s: %v", m.Subject, err)
		}
		acks = append(acks, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		tb.Fatalf("natstest: publishing %d messages did not complete", len(msgs))
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			tb.Fatalf("natstest: publish on %s: %v", f.Msg().Subject, err)
		}
	}
}

// PublishOps stores operations the way the dispatcher does: on their subjects, in order,
// with their headers (and hdr) and their id as Nats-Msg-Id, every acknowledgement awaited.
// A non-empty idSuffix makes a replay: the same operation as a new message.
func PublishOps(tb testing.TB, nc *nats.Conn, hdr map[string]string, idSuffix string, ops ...events.Operation) {
	tb.Helper()
	msgs := make([]*nats.Msg, 0, len(ops))
	for _, o := range ops {
		b, err := o.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		m := NewMsg(o.Subject(), b, o.Headers(), o.ID+idSuffix)
		for k, v := range hdr {
			m.Header.Set(k, v)
		}
		m.Header.Set(nats.MsgIdHdr, o.ID+idSuffix)
		msgs = append(msgs, m)
	}
	Publish(tb, nc, msgs)
}

// PublishTriggers stores trigger events the way the ingress does: on their subjects, in
// order, with their headers and their id as Nats-Msg-Id, every acknowledgement awaited.
func PublishTriggers(tb testing.TB, nc *nats.Conn, evs ...events.TriggerEvent) {
	tb.Helper()
	msgs := make([]*nats.Msg, 0, len(evs))
	for _, ev := range evs {
		b, err := ev.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		msgs = append(msgs, NewMsg(ev.Subject(), b, ev.Headers(), ev.ID))
	}
	Publish(tb, nc, msgs)
}

// NewMsg is a message on subject with data, the headers hdr and id as Nats-Msg-Id.
func NewMsg(subject string, data []byte, hdr map[string]string, id string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	for k, v := range hdr {
		m.Header.Set(k, v)
	}
	m.Header.Set(nats.MsgIdHdr, id)
	return m
}
