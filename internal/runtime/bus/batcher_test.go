package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// A batch on two streams is stored in the order given, each message with its UUID as
// Nats-Msg-Id and its metadata as headers; published again (a retry), nothing is stored
// twice; a message no stream takes fails the batch, naming its subject.
func TestBatcher(t *testing.T) {
	js := natstest.JetStream(t, natstest.RunJetStream(t).ClientURL())
	nc := js.Conn()
	ctx := context.Background()
	for _, name := range []string{"A", "B"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Duplicates: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bus.NewBatcher(nc, bus.PublisherConfig{AckWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var out []bus.Outgoing
	for i := range 50 {
		m := message.NewMessage(fmt.Sprintf("id-%d", i), []byte(fmt.Sprint(i)))
		m.Metadata.Set("Scw-Test", fmt.Sprint(i))
		out = append(out, bus.Outgoing{Subject: []string{"A.x", "B.y"}[i%2], Msg: m})
	}
	for range 2 { // the second: a retry of the whole batch
		if err := b.Publish(out...); err != nil {
			t.Fatal(err)
		}
	}
	for stream, first := range map[string]int{"A": 0, "B": 1} {
		msgs := natstest.Msgs(t, js, stream, "")
		if len(msgs) != 25 {
			t.Fatalf("%s holds %d messages, want 25", stream, len(msgs))
		}
		for k, m := range msgs {
			want := first + 2*k
			if string(m.Data) != fmt.Sprint(want) || m.Header.Get(nats.MsgIdHdr) != fmt.Sprintf("id-%d", want) || m.Header.Get("Scw-Test") != fmt.Sprint(want) {
				t.Fatalf("%s #%d: %s %v, want message %d", stream, k, m.Data, m.Header, want)
			}
		}
	}
	// Retried until the batch's AckWait has passed (a stream may be electing a leader).
	quick, err := bus.NewBatcher(nc, bus.PublisherConfig{AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = quick.Publish(bus.Outgoing{Subject: "A.z", Msg: message.NewMessage("ok", nil)}, bus.Outgoing{Subject: "C.none", Msg: message.NewMessage("lost", nil)})
	var pe *bus.PublishError
	if !errors.As(err, &pe) || pe.Subject != "C.none" {
		t.Fatalf("err = %v, want a PublishError naming C.none", err)
	}
}

// TestPublishWhileNoStreamAnswers: a message published while no stream takes its subject,
// as while a stream elects a leader after the node that led it was lost, is stored once
// a stream takes it, within the publisher's AckWait, by the Publisher and the Batcher
// alike. nats.go's default gives up after two retries 250 ms apart; the stream here
// appears 1.5 s after the publish.
func TestPublishWhileNoStreamAnswers(t *testing.T) {
	js := natstest.JetStream(t, natstest.RunJetStream(t).ClientURL())
	nc := js.Conn()
	pub, err := bus.NewPublisher(nc, bus.PublisherConfig{AckWait: 10 * time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.NewBatcher(nc, bus.PublisherConfig{AckWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	appear := func(name string) {
		time.AfterFunc(1500*time.Millisecond, func() {
			if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
				t.Error(err)
			}
		})
	}
	appear("LATE")
	start := time.Now()
	if err := pub.Publish("LATE.x", message.NewMessage("p1", []byte("x"))); err != nil {
		t.Fatalf("publisher: %v after %s", err, time.Since(start).Round(time.Millisecond))
	}
	appear("LATER")
	if err := b.Publish(bus.Outgoing{Subject: "LATER.y", Msg: message.NewMessage("b1", []byte("y"))}); err != nil {
		t.Fatalf("batcher: %v", err)
	}
	for _, stream := range []string{"LATE", "LATER"} {
		if n := len(natstest.Msgs(t, js, stream, "")); n != 1 {
			t.Fatalf("%s holds %d messages, want 1", stream, n)
		}
	}
}
