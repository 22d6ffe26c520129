package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// OpAlert is the kind of the operations the alerter makes of failures: one per failed
// result or dead-lettered trigger, with id alert.<operation id> (alert.trigger.<trigger
// id>), performed by the runner like any operation (done marker, retries, dead letter).
const OpAlert events.OpKind = "alert"

// alert is one failure worth an email: the spec of an alert operation.
type alert struct {
	Key      string    `json:"key"`  // alert.<operation id>, or alert.trigger.<trigger id>
	What     string    `json:"what"` // "itsm operation create-change (route open-change) to servicenow"
	Ticket   string    `json:"ticket"`
	Event    string    `json:"event,omitempty"`
	Route    string    `json:"route,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Error    string    `json:"error,omitempty"`
	Parks    bool      `json:"parks,omitempty"`   // the lane's later operations wait behind it
	Redrive  string    `json:"redrive,omitempty"` // the nats commands that find and redrive it
	To       []string  `json:"to,omitempty"`      // resolved when performed
	At       time.Time `json:"at"`
}

// alerter turns failed results and dead-lettered triggers into alert emails. Within one
// digest window, the first DigestAfter alerts go out one by one; the rest are queued on
// SCW_ALERTS, and the digester sends them as one email (digest.go).
type alerter struct {
	s     *Service
	log   *slog.Logger
	queue func(ctx context.Context, al alert) error // publishes to scw.alert.digest.<ticket>, in the trace of ctx
	storm storm
}

// storm counts the alerts of the current window (per replica). Each alert is decided
// once per window: its retries do not count again.
type storm struct {
	mu     sync.Mutex
	after  int
	window time.Duration
	start  time.Time
	digest map[string]bool
}

// toDigest reports whether the alert key goes into the digest.
func (st *storm) toDigest(key string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.start.IsZero() || now.Sub(st.start) >= st.window {
		st.start, st.digest = now, map[string]bool{}
	}
	d, ok := st.digest[key]
	if !ok {
		d = len(st.digest) >= st.after
		st.digest[key] = d
	}
	return d
}

// Retry is how alerts are retried: until they are sent (notifier.retry's backoff, no
// limit of attempts), for as long as a dead letter is kept.
func (a *alerter) Retry(events.Operation) config.Retry {
	r := a.s.Cfg.Notifier.Retry
	r.Attempts, r.MaxAge = math.MaxInt32, events.DLQMaxAge
	return r
}

// Decode makes an alert operation of a failed result or of a dead-lettered trigger.
func (a *alerter) Decode(msg *message.Message) (events.Operation, error) {
	var al alert
	var op events.Operation
	if msg.Metadata.Get(events.HdrService) == "dispatcher" {
		trig, _ := events.UnmarshalTriggerEvent(msg.Payload)
		key := msg.Metadata.Get(events.HdrTriggerID)
		if key == "" {
			key = msg.UUID
		}
		ticket := msg.Metadata.Get(events.HdrTicketID)
		what := fmt.Sprintf("trigger %s could not be planned", trig.Event)
		if msg.Metadata.Get(events.HdrEvent) == string(events.InboundEventName) {
			cb, _ := events.UnmarshalInboundEvent(msg.Payload)
			what = fmt.Sprintf("ITSM callback %s from server %s could not be acted on", cb.ID, cb.Server)
		}
		al = alert{
			Key: "alert.trigger." + key, What: what,
			Ticket: ticket, Event: msg.Metadata.Get(events.HdrEvent), Error: msg.Metadata.Get(events.HdrError),
			Redrive: withServer(fmt.Sprintf("nats sub --stream SCW_DLQ --all -T --wait 2s 'scw.dlq.dispatcher.%s'   # the trigger, its Scw-Error and Scw-Original-Subject\n"+
				"nats sub 'scw.dlq.dispatcher.%s' --stream SCW_DLQ --last-per-subject --count 1 --raw | nats pub '%s' --force-stdin   # redrive it, once the cause is fixed",
				ticket, ticket, msg.Metadata.Get(events.HdrOriginalSubject)), a.s.Cfg.NATSServer),
		}
		al.Redrive = withTriggerflow(al.Redrive, "dispatcher", ticket, a.s.Cfg.NATSServer)
		op.TriggerID = key
	} else {
		r, err := events.UnmarshalResult(msg.Payload)
		if err != nil {
			return op, fmt.Errorf("not a result: %w", err)
		}
		if r.Status != events.ResultFailed || r.OperationID == "" {
			return op, fmt.Errorf("result of %q is %q, not a failure", r.OperationID, r.Status)
		}
		al = alert{
			Key:    "alert." + r.OperationID,
			What:   fmt.Sprintf("%s operation %s (route %s) to %s", r.Kind, r.Action, r.Route, r.Target),
			Ticket: r.Ticket, Event: string(r.Event), Route: r.Route, Attempts: len(r.Attempts), Error: r.Error,
			Parks: r.Parks, Redrive: withServer(redrive(r), a.s.Cfg.NATSServer),
		}
		al.Redrive = withTriggerflow(al.Redrive, dlqService(r), r.Ticket, a.s.Cfg.NATSServer)
		op.TriggerID = r.TriggerID
	}
	al.At = a.s.now().UTC()
	spec, err := json.Marshal(al)
	if err != nil {
		return op, err
	}
	op.ID, op.Kind, op.Target, op.Route, op.Action = al.Key, OpAlert, TargetSMTP, al.Route, "alert"
	op.Ticket, op.Event, op.Spec = al.Ticket, events.Trigger(al.Event), spec
	return op, nil
}

// Perform sends the alert now, or queues it for the digest during a storm. An alert
// counts as sent only once the SMTP server accepted it (or, queued, when the digest
// is accepted).
func (a *alerter) Perform(ctx context.Context, j *runner.Job) (runner.Done, error) {
	var al alert
	if err := json.Unmarshal(j.Op.Spec, &al); err != nil {
		return runner.Done{}, failure.Permanent(fmt.Errorf("not an alert: %w", err))
	}
	al.To = a.recipients(ctx, al.Route, al.Ticket)
	if len(al.To) == 0 {
		j.Log.Warn("failure not alerted: nobody to alert (notifications.on_failure, routes[].on_failure)")
		a.s.metrics.alert("nobody")
		return runner.Done{Marker: marker("nobody to alert")}, nil
	}
	if a.storm.toDigest(al.Key, a.s.now()) {
		if err := a.queue(ctx, al); err != nil {
			return runner.Done{}, fmt.Errorf("queue the alert for the digest: %w", err)
		}
		a.s.metrics.alert("digested")
		return runner.Done{Marker: marker("queued for the digest"), Note: "queued for the digest"}, nil
	}
	if err := a.s.send(ctx, j, single(al), mailAlert); err != nil {
		if failure.IsPermanent(err) {
			// The SMTP server refused it for good (its certificate, the credentials, an
			// auth method, the recipients): a configuration to fix, after which the alert
			// must still go out. It is retried with backoff, as for as long as its dead
			// letter is kept (Retry), not dead-lettered itself.
			err = fmt.Errorf("%s; an alert is retried until it is sent: fix the smtp settings or the recipients", err.Error())
		}
		return runner.Done{}, err
	}
	a.s.metrics.alert("sent")
	return runner.Done{Marker: marker("sent")}, nil
}

func marker(what string) []byte {
	b, _ := json.Marshal(map[string]string{"alert": what, "at": time.Now().UTC().Format(time.RFC3339)})
	return b
}

// redrive says how to find and resend a failed operation with the stock nats CLI: view
// the dead letters of the ticket, then republish the last one to the subject it was
// going to (the operation's id is deterministic; it has not succeeded, so it is sent),
// or skip it, which releases what its failure parked.
func redrive(r events.Result) string {
	svc := dlqService(r)
	dlq := fmt.Sprintf(events.SubjDLQT, svc, r.Ticket)
	orig := events.Operation{Kind: r.Kind, Target: r.Target, Ticket: r.Ticket}.Subject()
	out := fmt.Sprintf("nats sub --stream SCW_DLQ --all -T --wait 2s '%s'   # the operation, its Scw-Error and Scw-Original-Subject\n"+
		"nats sub --stream SCW_RESULTS --all -T --wait 2s 'scw.result.*.*.%s.*'   # every attempt\n"+
		"nats sub '%s' --stream SCW_DLQ --last-per-subject --count 1 --raw | nats pub '%s' --force-stdin   # redrive it, once the cause is fixed",
		dlq, r.Ticket, dlq, orig)
	if r.Parks {
		out += fmt.Sprintf("\nnats sub '%s' --stream SCW_DLQ --last-per-subject --count 1 --raw | nats pub '%s' --force-stdin -H 'Scw-Skip:true'   # or skip it: what it holds back goes out",
			dlq, orig)
	}
	return out
}

// dlqService is the service that dead-lettered r's operation.
func dlqService(r events.Result) string {
	if r.Kind == events.OpEmail {
		return ServiceName
	}
	return "itsm-sync"
}

// withServer makes every nats command of cmds name the server (--server), so that it
// runs as written from wherever the operator reads the email.
func withServer(cmds, server string) string {
	return strings.ReplaceAll(cmds, "nats ", "nats --server '"+server+"' ")
}

// withTriggerflow adds the same redrive with `triggerflow redrive`, which marks the dead
// letter redriven (scw_redrives) so it is not redriven twice by accident.
func withTriggerflow(cmds, service, ticket, server string) string {
	return cmds + fmt.Sprintf("\ntriggerflow redrive --server '%s' --service %s --ticket %s   # or this: the same redrive, recorded (see `triggerflow trace %s`)", server, service, ticket, ticket)
}

// recipients of a route's alerts: its on_failure, else notifications.on_failure.
// requester and handler are looked up in SecureChange (the ticket, then the user's
// address) when securechange.url is set; a lookup that fails drops that recipient with a
// warning rather than the alert.
func (a *alerter) recipients(ctx context.Context, route, ticket string) []string {
	list := a.s.Cfg.Notifications.OnFailure
	if r, ok := a.s.routes[route]; ok && len(r.OnFailure) > 0 {
		list = r.OnFailure
	}
	var out []string
	var d *wfi.Data
	for _, x := range list {
		switch kw := strings.ToLower(strings.TrimSpace(x)); kw {
		case Requester, Handler:
			if a.s.SecureChange == nil || ticket == "" {
				a.log.Warn("alert recipient "+kw+" needs securechange.url; skipped", "ticket", ticket)
				continue
			}
			if d == nil {
				t, err := a.s.SecureChange.Ticket(ctx, ticket)
				if err != nil {
					a.log.Warn("alert recipient "+kw+": ticket not read; skipped", "ticket", ticket, "err", err)
					continue
				}
				d = &wfi.Data{Ticket: &t}
			}
			addrs, err := a.s.person(ctx, d, kw)
			if err != nil {
				a.log.Warn("alert recipient "+kw+" not resolved; skipped", "ticket", ticket, "err", err)
				continue
			}
			out = append(out, addrs...)
		default:
			if ad, err := mail.ParseAddress(x); err == nil {
				out = append(out, ad.String())
			}
		}
	}
	return out
}

func single(al alert) mailer.Message {
	return mailer.Message{
		MessageID: "<" + al.Key + "@triggerflow>", // a resent alert is recognisably the same
		To:        al.To,
		Subject:   fmt.Sprintf("[triggerflow] failed: %s for ticket %s", al.What, al.Ticket),
		Text:      describe(al),
		Headers:   map[string]string{"X-Triggerflow-Alert": al.Key, "X-Triggerflow-Ticket": al.Ticket},
	}
}

func describe(al alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "What failed: %s\nTicket: %s (%s)\nAttempts: %d\nLast error: %s\nAt: %s\n",
		al.What, al.Ticket, al.Event, al.Attempts, al.Error, al.At.UTC().Format(time.RFC3339))
	if al.Parks {
		fmt.Fprintf(&b, "\nThe later operations of ticket %s for the same destination are parked behind it: they go out, in order, once it is redriven and succeeds, or is skipped.\n", al.Ticket)
	}
	fmt.Fprintf(&b, "\nTo find and redrive it:\n%s\n", al.Redrive)
	return b.String()
}

// digest is one email for many alerts.
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
