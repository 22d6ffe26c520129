package notifier_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// preloadEmails stores n email operations in a fresh JetStream.
func preloadEmails(b *testing.B, n int) string {
	b.Helper()
	s := natstest.RunJetStream(b)
	nc := natstest.Connect(b, s.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	if err := natsconn.EnsureStreams(context.Background(), js, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		natstest.PublishOps(b, nc, nil, "", emailOp(fmt.Sprint(100000+i), events.EmailSpec{To: []string{"ops@example.com"}, Subject: "Ticket #ticket_id#: #ticket_subject#"}))
	}
	return s.ClientURL()
}

// BenchmarkNotifier measures emails per second (b.N email operations rendered and sent
// over SMTP to a local server, recorded in scw_done and SCW_RESULTS) next to the raw
// limit measured in the same run: the same number of workers consuming the same stream,
// sending each body as an email with their own connection, and acking.
func BenchmarkNotifier(b *testing.B) {
	const workers = 4
	n := max(b.N, 100)
	b.StopTimer()
	raw := func() time.Duration {
		url := preloadEmails(b, n)
		srv := smtptest.New(b)
		nc := natstest.Connect(b, url)
		js, _ := jetstream.New(nc)
		ms := make(chan *mailer.Mailer, workers)
		for range workers {
			m, err := mailer.New(config.SMTP{Host: srv.Host, Port: srv.Port, StartTLS: new(false), From: "tf@example.com", Timeout: 30 * time.Second}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = m.Close() })
			ms <- m
		}
		return natstest.RawConsume(b, js, events.StreamOps, workers, n, func(msg jetstream.Msg) (bool, error) {
			m := <-ms
			defer func() { ms <- m }()
			if err := m.Send(context.Background(), mailer.Message{To: []string{"ops@example.com"}, Subject: "raw", Text: string(msg.Data())}); err != nil {
				return false, err
			}
			return true, msg.DoubleAck(context.Background())
		})
	}()

	url := preloadEmails(b, n)
	srv := smtptest.New(b)
	start := time.Now()
	b.StartTimer()
	g := testrig.Start(b, "notifier", testConfig(url, func(c *config.Config) {
		c.Log.Level = "error"
		c.SMTP = config.SMTP{Host: srv.Host, Port: srv.Port, StartTLS: new(false), From: "tf@example.com"}
		c.Notifier.Concurrency = workers
	}))
	natstest.CheckFor(b, 10*time.Minute, 2*time.Millisecond, func() error {
		if got := natstest.StreamMsgs(b, g.JS, events.StreamResults); got < uint64(n) {
			return fmt.Errorf("%d of %d sent", got, n)
		}
		return nil
	})
	b.StopTimer()
	took := time.Since(start)
	if got := len(srv.Messages()); got != n {
		b.Fatalf("the SMTP server got %d emails, want %d", got, n)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "emails/s")
	b.ReportMetric(float64(n)/raw.Seconds(), "raw/s")
	b.ReportMetric(raw.Seconds()/took.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}
