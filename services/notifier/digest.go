package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// maxDigest is the most alerts one digest email lists.
const maxDigest = 500

// digester sends the alerts queued on SCW_ALERTS (scw.alert.digest.<ticket>) as one
// email per digest window. They stay in JetStream until the SMTP server accepted the
// digest listing them: a restart sends what was pending; a digest the server refused is
// retried with backoff (logged, counted), never dropped.
type digester struct {
	s       *Service
	log     *slog.Logger
	js      jetstream.JetStream
	cc      natsconn.ConsumerConfig
	pub     message.Publisher
	window  time.Duration
	sent    prometheus.Counter
	unsent  prometheus.Counter
	stopped chan struct{}
}

// DigestConsumer is the durable consumer of the queued alerts.
func DigestConsumer(smtpTimeout time.Duration) natsconn.ConsumerConfig {
	return natsconn.ConsumerConfig{
		Stream: events.StreamAlerts, Durable: "notifier-digest", FilterSubject: events.SubjAlertDigest,
		Description: "notifier: alerts waiting for their digest email",
		// A batch is pending while its digest is being sent.
		AckWait: 2*smtpTimeout + 30*time.Second, MaxDeliver: -1, MaxAckPending: 10 * maxDigest,
	}
}

// queue stores an alert for the next digest (message id digest-<key>: queued once), in
// the trace of ctx (the alert's span).
func (d *digester) queue(ctx context.Context, al alert) error {
	b, err := json.Marshal(al)
	if err != nil {
		return err
	}
	m := message.NewMessage("digest-"+al.Key, b)
	m.Metadata.Set(events.HdrTicketID, al.Ticket)
	m.SetContext(ctx)
	return d.pub.Publish(fmt.Sprintf(events.SubjAlertDigT, ticketToken(al.Ticket)), m)
}

// run sends a digest at start (what a stopped replica left) and then every window,
// until ctx ends; at the end it tries once more, within the stop's time.
func (d *digester) run(ctx context.Context, final <-chan struct{}) {
	defer close(d.stopped)
	t := time.NewTicker(d.window)
	defer t.Stop()
	for {
		for d.flush(ctx) {
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		case <-final:
			fctx, cancel := context.WithTimeout(context.Background(), d.s.Cfg.SMTP.Timeout)
			d.flush(fctx)
			cancel()
			return
		}
	}
}

// flush sends the queued alerts as one digest; it reports whether a full digest went out
// (more may be waiting).
func (d *digester) flush(ctx context.Context) bool {
	b, err := bus.FetchBatch(ctx, d.js, d.cc, maxDigest)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("queued alerts not read; retrying at the next digest", "err", err)
		}
		return false
	}
	if len(b.Messages) == 0 {
		return false
	}
	batch := make([]alert, 0, len(b.Messages))
	delivered := 1
	for _, m := range b.Messages {
		var al alert
		if err := json.Unmarshal(m.Payload, &al); err != nil || len(al.To) == 0 {
			d.log.Error("queued alert unreadable; left out of the digest", "msg", m.UUID, "err", err)
			continue
		}
		batch = append(batch, al)
		delivered = max(delivered, bus.Delivered(m))
	}
	if len(batch) == 0 {
		_ = b.Ack(ctx)
		return false
	}
	start := time.Now()
	err = d.s.Mail.Send(ctx, digest(batch))
	d.s.metrics.sent(mailDigest, time.Since(start), err)
	if err != nil {
		r := d.s.Cfg.Notifier.Retry
		wait := egress.Backoff(r.Backoff, r.MaxBackoff, delivered-1)
		d.unsent.Add(float64(len(batch)))
		d.log.Error("alert digest not sent; kept in "+events.StreamAlerts+" and retried", "alerts", len(batch), "attempt", delivered, "wait", wait.Round(time.Millisecond), "err", err)
		b.Nak(wait)
		return false
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.Ack(actx); err != nil {
		d.log.Warn("digest sent but not acknowledged; its alerts may be listed again", "err", err)
	}
	d.sent.Add(float64(len(batch)))
	d.log.Info("alert digest sent", "alerts", len(batch))
	return len(b.Messages) == maxDigest
}

// ticketToken is a ticket id safe as a subject token.
func ticketToken(t string) string {
	if t == "" {
		return "unknown"
	}
	return t
}
