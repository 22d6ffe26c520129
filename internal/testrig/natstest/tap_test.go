package natstest_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestTapCountsAKnownWorkload: a workload of known size on an embedded server, counted
// exactly by category; the tap's own checks (Quiet) are not counted.
func TestTapCountsAKnownWorkload(t *testing.T) {
	s := natstest.RunJetStream(t)
	tap := natstest.Tap(t, s.ClientURL(), natstest.TapStream("T", "t.>"))
	js := natstest.JetStream(t, s.ClientURL())
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Set-up: API requests, which the tap sees ($JS.API.> under ">").
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: events.StreamOps, Subjects: []string{events.SubjOps}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamOps, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	setup := tap.Snapshot()
	if setup.API["STREAM.CREATE"] != 3 || setup.API["CONSUMER.CREATE"] != 1 {
		t.Fatalf("set-up API requests not seen: %v", setup.API)
	}

	before := tap.Snapshot()
	for i := range 10 {
		if _, err := js.Publish(ctx, fmt.Sprintf("scw.op.itsm.snow.%d", 1000+i), []byte("op")); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := js.Publish(ctx, "t.x", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := kv.Put(ctx, fmt.Sprint("k", i%3), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := kv.Get(ctx, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := fetch(t, cons, 10)
	for _, m := range msgs[:6] {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range msgs[6:8] {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := msgs[8].InProgress(); err != nil {
		t.Fatal(err)
	}
	if err := msgs[8].Ack(); err != nil {
		t.Fatal(err)
	}
	if err := msgs[9].Nak(); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, events.StreamOps); err != nil { // STREAM.INFO
		t.Fatal(err)
	}
	if err := nc.Publish("plain.subject", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // acks and the core publish have no reply
		t.Fatal(err)
	}
	// The test's own checks, not counted.
	if n := natstest.StreamMsgs(t, tap.Quiet(), events.StreamOps); n != 10 {
		t.Fatalf("%d ops stored", n)
	}

	got := tap.Snapshot().Sub(before)
	t.Logf("counted:\n%s", got)
	want := natstest.Counts{
		Streams:       map[string]int{events.StreamOps: 10, "T": 2},
		KV:            map[string]int{"b": 5},
		DirectGets:    map[string]int{"KV_b": 3},
		Acks:          map[string]int{"+ACK": 9, "+WPI": 1, "-NAK": 1},
		AcksByStream:  map[string]int{events.StreamOps: 11},
		AcksConfirmed: 2,
		API:           map[string]int{"STREAM.INFO": 1},
		Pulls:         map[string]int{events.StreamOps: 1},
		Deliveries:    map[string]int{events.StreamOps: 10},
		Core:          1,
	}
	for _, c := range []struct {
		name      string
		got, want map[string]int
	}{
		{"streams", got.Streams, want.Streams}, {"kv", got.KV, want.KV}, {"direct gets", got.DirectGets, want.DirectGets},
		{"acks", got.Acks, want.Acks}, {"acks by stream", got.AcksByStream, want.AcksByStream},
		{"api", got.API, want.API}, {"pulls", got.Pulls, want.Pulls}, {"deliveries", got.Deliveries, want.Deliveries},
	} {
		if !maps.Equal(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if got.AcksConfirmed != 2 || got.Core != 1 {
		t.Errorf("confirmed acks %d, core %d", got.AcksConfirmed, got.Core)
	}
	if r := got.Requests(); r != 12+5+3+11+1 {
		t.Errorf("requests %d, want 32", r)
	}
	if p := got.PullRequests(); p != 1 {
		t.Errorf("pull requests %d, want 1", p)
	}
	table := got.String()
	for _, line := range []string{"requests", "SCW_OPS", "KV_b", "+WPI", "STREAM.INFO", "pull requests"} {
		if !strings.Contains(table, line) {
			t.Errorf("table lacks %q:\n%s", line, table)
		}
	}
	if per := got.Per(2); !strings.Contains(per, "16.00") { // 32 requests / 2
		t.Errorf("per 2:\n%s", per)
	}
}

// TestTapTripsFollowsRoundTrips: TapTrips counts each trigger's round trips and the acks
// sent before their handler's requests were answered, on a workload of known shape.
func TestTapTripsFollowsRoundTrips(t *testing.T) {
	s := natstest.RunJetStream(t)
	tap := natstest.Tap(t, s.ClientURL(), natstest.TapTrips())
	js := natstest.JetStream(t, s.ClientURL())
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, subject := range map[string]string{events.StreamOps: events.SubjOps, events.StreamResults: events.SubjResults} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, AllowDirect: true}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamOps, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(subject, trigger, id string) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Header.Set(events.HdrTriggerID, trigger)
		m.Header.Set(nats.MsgIdHdr, id)
		return m
	}
	publish := func(subject, trigger, id string) {
		t.Helper()
		if _, err := js.PublishMsg(ctx, msg(subject, trigger, id)); err != nil {
			t.Fatal(err)
		}
	}

	// b and c: an operation each (one round trip), then delivered.
	publish("scw.op.itsm.snow.1", "b", "op-b")
	publish("scw.op.itsm.snow.2", "c", "op-c")
	got := fetch(t, cons, 2)
	// b's handler: the done check (a direct get naming its result), the result, the ack
	// after both were answered: three round trips in all.
	get := []byte(`{"multi_last":["scw.result.itsm.succeeded.1.op-b","scw.lane.held.snow.1"],"batch":2}`)
	if _, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+events.StreamResults, get); err != nil {
		t.Fatal(err)
	}
	publish("scw.result.itsm.succeeded.1.op-b", "b", "result-op-b")
	// c's handler: a publish nothing answers (no stream stores SCW_PLANS' subjects here),
	// then the ack: two round trips, one ack too early, one request unanswered.
	early := msg("scw.plan.create.2", "c", "plan-c")
	early.Reply = nats.NewInbox()
	if err := nc.PublishMsg(early); err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	// a: two publishes, each awaited: two round trips.
	publish("scw.op.itsm.snow.3", "a", "op-a1")
	publish("scw.op.itsm.snow.3", "a", "op-a2")
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	trips := tap.Trips()
	if want := map[int]int{2: 2, 3: 1}; !maps.Equal(trips.Rounds, want) {
		t.Errorf("rounds %v, want %v", trips.Rounds, want)
	}
	if trips.Triggers() != 3 || trips.EarlyAcks != 1 || trips.Unanswered != 1 {
		t.Errorf("triggers %d, early acks %d, unanswered %d; want 3, 1, 1", trips.Triggers(), trips.EarlyAcks, trips.Unanswered)
	}
	if m := trips.Mean(); m != 7.0/3 {
		t.Errorf("mean %v, want 7/3", m)
	}
}

// fetch pulls n messages from cons, failing t unless all n come within 10 s.
func fetch(t *testing.T, cons jetstream.Consumer, n int) []jetstream.Msg {
	t.Helper()
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != n {
		t.Fatalf("fetched %d, want %d", len(msgs), n)
	}
	return msgs
}
