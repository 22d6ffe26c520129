package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// BenchmarkReplay measures `triggerflow replay`'s own work, reading b.N stored triggers
// (100 tickets) and republishing each with every acknowledgement awaited, next to a raw
// read of the same triggers with an ordered consumer, in the same run on the same
// server: replayed/s, raw-read/s and their ratio. (Planning the replayed triggers is the
// dispatcher's work: BenchmarkDispatcher.)
func BenchmarkReplay(b *testing.B) {
	n := max(b.N, 100)
	b.StopTimer()
	s := natstest.RunJetStream(b)
	nc := natstest.Connect(b, s.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cfg := config.Default()
	if err := natsconn.EnsureStreams(ctx, js, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	evs := make([]events.TriggerEvent, n)
	for i := range evs {
		info := events.TicketInfo{ID: fmt.Sprint(5000 + i%100), Subject: "Allow web to db", UpdateDate: fmt.Sprint(i)}
		evs[i] = events.NewTriggerEvent(events.Advance, info, []byte("<ticket_info><id>1</id></ticket_info>"), "", "")
		evs[i].ReceivedAt, evs[i].Ingress = time.Now().UTC(), "bench"
	}
	natstest.PublishTriggers(b, nc, evs...)

	start := time.Now()
	raw, err := scan(ctx, js, events.StreamTriggers, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"scw.trigger.*.*.*"}},
		30*time.Second, nil, "", func(jetstream.Msg, *jetstream.MsgMetadata) error { return nil })
	rawTook := time.Since(start)
	if err != nil || raw != n {
		b.Fatalf("raw read: %d of %d: %v", raw, n, err)
	}

	cc, _ := replayStart("", 1, time.Now())
	cc.FilterSubjects = []string{"scw.trigger.*.*.*"}
	b.StartTimer()
	start = time.Now()
	sum, err := replay(ctx, js, replayRun{cc: cc, id: "bench", wait: 30 * time.Second, stderr: io.Discard, each: func(replayed) error { return nil }})
	took := time.Since(start)
	b.StopTimer()
	if err != nil || sum.Replayed != n || sum.Duplicates != 0 {
		b.Fatalf("replay: %+v: %v", sum, err)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "replayed/s")
	b.ReportMetric(float64(n)/rawTook.Seconds(), "raw-read/s")
	b.ReportMetric(rawTook.Seconds()/took.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}
