package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// PublishOps stores operations the way the dispatcher does: on their subjects, in order,
// with their headers (and hdr) and their id as Nats-Msg-Id, every acknowledgement awaited.
// A non-empty idSuffix makes a replay: the same operation as a new message.
func PublishOps(tb testing.TB, nc *nats.Conn, hdr map[string]string, idSuffix string, ops ...events.Operation) {
	tb.Helper()
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(512))
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range ops {
		b, err := o.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		m := nats.NewMsg(o.Subject())
		m.Data = b
		for k, v := range o.Headers() {
			m.Header.Set(k, v)
		}
		for k, v := range hdr {
			m.Header.Set(k, v)
		}
		m.Header.Set(nats.MsgIdHdr, o.ID+idSuffix)
		// Asynchronous, but in order: one connection's publishes are stored in the order sent.
		if _, err := js.PublishMsgAsync(m); err != nil {
			tb.Fatalf("natstest: publish operation %s: %v", o.ID, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		tb.Fatalf("natstest: publishing %d operations did not complete", len(ops))
	}
}
