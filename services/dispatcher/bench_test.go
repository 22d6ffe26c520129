package dispatcher_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// preload stores n triggers in a fresh file-backed JetStream and returns its URL.
func preload(b *testing.B, n int) string {
	b.Helper()
	s := natstest.RunJetStream(b)
	nc := natstest.Connect(b, s.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cfg := testConfig(s.ClientURL(), nil)
	if err := natsconn.EnsureStreams(ctx, js, natsconn.StreamSpecs(cfg), discard()); err != nil {
		b.Fatal(err)
	}
	evs := make([]events.TriggerEvent, n)
	for i := range evs {
		ev := trigger(events.Advance, "1234", "Approval", "Risk Review")
		ev.Ticket.UpdateDate = strconv.Itoa(i) // distinct triggers of one known ticket
		ev.ID = events.TriggerID(ev.Event, ev.Ticket, ev.Args)
		evs[i] = ev
	}
	natstest.PublishTriggers(b, nc, evs...)
	return s.ClientURL()
}

// rawLimit consumes n triggers with 4 workers (as many as the dispatcher's default
// concurrency) from one durable pull consumer and, for each, publishes two messages (as a
// plan and one operation) synchronously with ids, then double-acks: the floor the
// dispatcher's work sits on.
func rawLimit(b *testing.B, url string, n int) time.Duration {
	b.Helper()
	nc := natstest.Connect(b, url)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	return natstest.RawConsume(b, js, events.StreamTriggers, 4, n, func(m jetstream.Msg) (bool, error) {
		id := m.Headers().Get(events.HdrTriggerID)
		for _, subj := range []string{"scw.plan.raw." + id, "scw.op.raw.x." + id} {
			out := nats.NewMsg(subj)
			out.Data = m.Data()
			out.Header.Set(nats.MsgIdHdr, subj)
			if _, err := js.PublishMsg(ctx, out); err != nil {
				return false, err
			}
		}
		return true, m.DoubleAck(ctx)
	})
}

// BenchmarkDispatcher measures plans per second (b.N triggers, each planned into one
// operation) with enrichment off and with a local SecureChange server, next to the raw
// consume + publish limit measured in the same run on the same kind of server.
func BenchmarkDispatcher(b *testing.B) {
	for _, enrich := range []bool{false, true} {
		name := "enrichment=off"
		if enrich {
			name = "enrichment=securechange"
		}
		b.Run(name, func(b *testing.B) {
			n := b.N
			if n < 100 {
				n = 100 // the first probe run
			}
			b.StopTimer()
			raw := rawLimit(b, preload(b, n), n)

			url := preload(b, n)
			mutate := func(c *config.Config) {
				c.Dispatcher.PullBatch = 8
				c.Routes = []config.Route{{Name: "every", On: config.RouteOn{Events: config.StringList{"ADVANCE"}}, Actions: []config.Action{itsmAction("call", false)}}}
			}
			if enrich {
				sc, _ := scServer(b, func(string) int { return 200 })
				base := mutate
				mutate = func(c *config.Config) { base(c); withSecureChangeB(b, c, sc.URL) }
			}
			start := time.Now()
			b.StartTimer()
			g := testrig.Start(b, "dispatcher", testConfig(url, mutate))
			natstest.CheckFor(b, 10*time.Minute, time.Millisecond, func() error {
				if got := g.Count(events.StreamPlans); got < uint64(n) {
					return fmt.Errorf("%d of %d planned", got, n)
				}
				return nil
			})
			b.StopTimer()
			took := time.Since(start)
			b.ReportMetric(float64(n)/took.Seconds(), "plans/s")
			b.ReportMetric(float64(n)/raw.Seconds(), "raw/s")
			b.ReportMetric(raw.Seconds()/took.Seconds(), "ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
