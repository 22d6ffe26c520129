package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
	"github.com/triggerflow/triggerflow/pkg/platform/wfi"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// alert is one failure worth an email.
type alert struct {
	Key      string // operation id, or trigger id for a dead-lettered trigger
	What     string // "itsm operation create-change (route open-change) to servicenow"
	Ticket   string
	Event    string
	Attempts int
	Error    string
	Redrive  string // the nats commands that find and redrive it
	To       []string
	At       time.Time
}

// alerter sends alerts, turning storms into digests: within one window, the first
// DigestAfter alerts go out one by one, the rest in one digest at the window's end.
type alerter struct {
	s      *Service
	log    *slog.Logger
	after  int
	window time.Duration

	mu      sync.Mutex
	start   time.Time
	count   int
	pending []alert
	timer   *time.Timer
	stopped bool
}

func newAlerter(s *Service, n config.Notifications) *alerter {
	return &alerter{s: s, log: s.log, after: n.DigestAfter, window: n.DigestWindow}
}

// HandleResult alerts on a failed result.
func (a *alerter) HandleResult(msg *message.Message) error {
	r, err := events.UnmarshalResult(msg.Payload)
	if err != nil || r.Status != events.ResultFailed {
		return nil // not ours to judge: ack
	}
	return a.raise(msg, alert{
		Key:    "alert." + r.OperationID,
		What:   fmt.Sprintf("%s operation %s (route %s) to %s", r.Kind, r.Action, r.Route, r.Target),
		Ticket: r.Ticket, Event: string(r.Event), Attempts: len(r.Attempts), Error: r.Error,
		Redrive: redrive(r), To: a.recipients(msg.Context(), r.Route, r.Ticket),
	})
}

// HandleDeadLetter alerts on what only the dead-letter queue knows about: triggers the
// dispatcher gave up on (operations that fail also publish a failed result, which
// alerts once).
func (a *alerter) HandleDeadLetter(msg *message.Message) error {
	svc := msg.Metadata.Get(events.HdrService)
	if svc != "dispatcher" {
		return nil
	}
	trig, _ := events.UnmarshalTriggerEvent(msg.Payload)
	ticket := msg.Metadata.Get(events.HdrTicketID)
	key := msg.Metadata.Get(events.HdrTriggerID)
	if key == "" {
		key = msg.UUID
	}
	return a.raise(msg, alert{
		Key: "alert.trigger." + key, What: fmt.Sprintf("trigger %s could not be planned", trig.Event),
		Ticket: ticket, Event: msg.Metadata.Get(events.HdrEvent), Error: msg.Metadata.Get(events.HdrError),
		Redrive: fmt.Sprintf("nats stream view SCW_DLQ --subject 'scw.dlq.dispatcher.%s'   # the trigger, its Scw-Error and Scw-Original-Subject\n"+
			"nats sub 'scw.dlq.dispatcher.%s' --stream SCW_DLQ --last-per-subject --count 1 --raw | nats pub '%s' --force-stdin   # redrive it, once the cause is fixed",
			ticket, ticket, msg.Metadata.Get(events.HdrOriginalSubject)),
		To: a.recipients(msg.Context(), "", ticket),
	})
}

// redrive says how to find and resend a failed operation with the stock nats CLI: view
// the dead letters of the ticket, then republish the last one to the subject it was
// going to (the operation's id is deterministic; it has not succeeded, so it is sent).
func redrive(r events.Result) string {
	svc := "itsm-sync"
	if r.Kind == events.OpEmail {
		svc = ServiceName
	}
	dlq := fmt.Sprintf("scw.dlq.%s.%s", svc, r.Ticket)
	orig := events.Operation{Kind: r.Kind, Target: r.Target, Ticket: r.Ticket}.Subject()
	return fmt.Sprintf("nats stream view SCW_DLQ --subject '%s'   # the operation, its Scw-Error and Scw-Original-Subject\n"+
		"nats stream view SCW_RESULTS --subject 'scw.result.*.*.%s'   # every attempt\n"+
		"nats sub '%s' --stream SCW_DLQ --last-per-subject --count 1 --raw | nats pub '%s' --force-stdin   # redrive it, once the cause is fixed",
		dlq, r.Ticket, dlq, orig)
}

// recipients of a route's alerts: its on_failure, else notifications.on_failure.
// requester and handler are looked up in SecureChange (the ticket, then the user's
// address) when securechange.url is set; a lookup that fails drops that recipient with a
// warning rather than the alert.
func (a *alerter) recipients(ctx context.Context, route, ticket string) []string {
	list := a.s.cfg.Notifications.OnFailure
	if r, ok := a.s.routes[route]; ok && len(r.OnFailure) > 0 {
		list = r.OnFailure
	}
	var out []string
	var d *wfi.Data
	for _, x := range list {
		switch kw := strings.ToLower(strings.TrimSpace(x)); kw {
		case Requester, Handler:
			if a.s.sc == nil || ticket == "" {
				a.log.Warn("alert recipient "+kw+" needs securechange.url; skipped", "ticket", ticket)
				continue
			}
			if d == nil {
				t, err := a.s.sc.Ticket(ctx, ticket)
				if err != nil {
					a.log.Warn("alert recipient "+kw+": ticket not read; skipped", "ticket", ticket, "err", err)
					continue
				}
				d = &wfi.Data{Ticket: &t}
			}
			addr, err := a.s.person(ctx, d, kw)
			if err != nil {
				a.log.Warn("alert recipient "+kw+" not resolved; skipped", "ticket", ticket, "err", err)
				continue
			}
			out = append(out, addr)
		default:
			if ad, err := mail.ParseAddress(x); err == nil {
				out = append(out, ad.String())
			}
		}
	}
	return out
}

// raise sends the alert once (scw_done key alert.<key>), now or in the digest.
func (a *alerter) raise(msg *message.Message, al alert) error {
	if len(al.To) == 0 {
		return nil
	}
	ctx := msg.Context()
	if _, err := a.s.done.Get(ctx, al.Key); err == nil {
		return nil // alerted already (a redelivery)
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		bus.NackAfter(msg, time.Second)
		return nil
	}
	al.At = a.s.now()
	a.mu.Lock()
	if a.start.IsZero() || al.At.Sub(a.start) >= a.window {
		a.start, a.count = al.At, 0
	}
	a.count++
	digest := a.count > a.after
	if digest {
		a.pending = append(a.pending, al)
		if a.timer == nil && !a.stopped {
			a.timer = time.AfterFunc(a.window-al.At.Sub(a.start), a.flush)
		}
	}
	a.mu.Unlock()
	if !digest {
		if err := a.s.mail.Send(ctx, single(al)); err != nil {
			a.log.Warn("alert not sent; will retry", "ticket", al.Ticket, "err", err)
			bus.NackAfter(msg, a.s.cfg.Notifier.Retry.Backoff)
			return nil
		}
	}
	_, _ = a.s.done.Put(ctx, al.Key, []byte(al.At.UTC().Format(time.RFC3339)))
	return nil
}

// flush sends the pending alerts as one digest.
func (a *alerter) flush() {
	a.mu.Lock()
	batch := a.pending
	a.pending, a.timer = nil, nil
	a.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.s.mail.Send(ctx, digest(batch)); err != nil {
		a.log.Error("alert digest not sent; kept for the next one", "alerts", len(batch), "err", err)
		a.mu.Lock()
		a.pending = append(batch, a.pending...)
		if a.timer == nil && !a.stopped {
			a.timer = time.AfterFunc(a.window, a.flush)
		}
		a.mu.Unlock()
	}
}

// stop sends what is pending and stops the timer.
func (a *alerter) stop() {
	a.mu.Lock()
	a.stopped = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.mu.Unlock()
	a.flush()
}

func single(al alert) mailer.Message {
	return mailer.Message{
		To:      al.To,
		Subject: fmt.Sprintf("[triggerflow] failed: %s for ticket %s", al.What, al.Ticket),
		Text:    describe(al),
		Headers: map[string]string{"X-Triggerflow-Alert": al.Key, "X-Triggerflow-Ticket": al.Ticket},
	}
}

func describe(al alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "What failed: %s\nTicket: %s (%s)\nAttempts: %d\nLast error: %s\nAt: %s\n\nTo find and redrive it:\n%s\n",
		al.What, al.Ticket, al.Event, al.Attempts, al.Error, al.At.UTC().Format(time.RFC3339), al.Redrive)
	return b.String()
}

func digest(batch []alert) mailer.Message {
	to := map[string]bool{}
	var b strings.Builder
	fmt.Fprintf(&b, "%d failures since %s; each one below.\n\n", len(batch), batch[0].At.UTC().Format(time.RFC3339))
	for i, al := range batch {
		for _, r := range al.To {
			to[r] = true
		}
		fmt.Fprintf(&b, "%d. %s\n", i+1, strings.ReplaceAll(describe(al), "\n", "\n   "))
	}
	var rcpt []string
	for r := range to {
		rcpt = append(rcpt, r)
	}
	sort.Strings(rcpt)
	return mailer.Message{
		To:      rcpt,
		Subject: fmt.Sprintf("[triggerflow] %d failures (digest)", len(batch)),
		Text:    b.String(),
		Headers: map[string]string{"X-Triggerflow-Alert": "digest"},
	}
}
