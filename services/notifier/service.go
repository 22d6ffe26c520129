package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
	"github.com/triggerflow/triggerflow/pkg/platform/failure"
	"github.com/triggerflow/triggerflow/pkg/platform/httpx"
	"github.com/triggerflow/triggerflow/pkg/platform/securechange"
	"github.com/triggerflow/triggerflow/pkg/platform/wfi"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// ServiceName names the notifier in dead letters and logs.
const ServiceName = "notifier"

// Recipient keywords resolved from the ticket.
const (
	Requester = "requester"
	Handler   = "handler"
)

// Sender sends one email (the mailer; tests may wrap it).
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// Service sends email operations and failure alerts.
type Service struct {
	log      *slog.Logger
	cfg      *config.Config
	mail     Sender
	sc       *securechange.Client // nil: requester/handler only from the ticket JSON
	pub      message.Publisher
	done     jetstream.KeyValue
	attempts jetstream.KeyValue
	alerts   *alerter
	instance string
	now      func() time.Time
	routes   map[string]config.Route

	tmpls wfi.Cache
}

// run is one email operation being handled.
type run struct {
	op        events.Operation
	msg       *message.Message
	log       *slog.Logger
	delivered int
	storedAt  time.Time
	attempts  []events.Attempt
}

// HandleEmail sends one email operation. It settles the message itself; an error means
// even the dead letter could not be stored.
func (s *Service) HandleEmail(msg *message.Message) error {
	op, err := events.UnmarshalOperation(msg.Payload)
	if err != nil || op.ID == "" {
		if err == nil {
			err = errors.New("no operation id")
		}
		return s.deadLetter(msg, events.Operation{}, failure.Permanent(fmt.Errorf("not an operation: %w", err)), 0)
	}
	r := &run{op: op, msg: msg, delivered: bus.Delivered(msg), storedAt: bus.StoredAt(msg)}
	if r.storedAt.IsZero() {
		r.storedAt = s.now()
	}
	r.log = s.log.With("op", op.ID, "ticket", op.Ticket, "route", op.Route, "action", op.Action, "delivery", r.delivered)
	ctx := msg.Context()
	if msg.Metadata.Get(events.HdrForce) != "true" {
		if e, err := s.done.Get(ctx, op.ID); err == nil {
			r.log.Debug("already sent; not sent again")
			if r.delivered > 1 { // the replica that sent it may have died before its result was stored
				if res, err := events.UnmarshalResult(e.Value()); err == nil && res.OperationID == op.ID {
					if err := bus.PublishResult(s.pub, msg, res); err != nil {
						bus.NackAfter(msg, time.Second)
						return nil
					}
				}
			}
			msg.Ack()
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			bus.NackAfter(msg, time.Second)
			return nil
		}
	}
	if r.delivered > 1 {
		r.attempts = s.loadAttempts(ctx, op.ID)
	}
	m, err := s.compose(ctx, op)
	if err == nil {
		start := s.now()
		err = s.mail.Send(ctx, m)
		a := events.Attempt{N: len(r.attempts) + 1, At: start.UTC(), Latency: s.now().Sub(start)}
		if err != nil {
			a.Error, a.Transient = err.Error(), !failure.IsPermanent(err)
		}
		r.attempts = append(r.attempts, a)
	}
	if err == nil {
		return s.succeed(r)
	}
	if failure.IsPermanent(err) {
		return s.fail(r, err)
	}
	return s.transient(r, err)
}

// compose renders the email of an operation and resolves its recipients.
func (s *Service) compose(ctx context.Context, op events.Operation) (mailer.Message, error) {
	var spec config.EmailAction
	if err := json.Unmarshal(op.Spec, &spec); err != nil {
		return mailer.Message{}, failure.Permanent(fmt.Errorf("operation spec is not an email action: %w", err))
	}
	d, err := wfi.NewData(op, s.now())
	if err != nil {
		return mailer.Message{}, failure.Permanent(err)
	}
	d.Custom = s.cfg.ITSMSync.Placeholders
	m := mailer.Message{
		MessageID: "<" + op.ID + "@triggerflow>",
		Headers: map[string]string{
			"X-Triggerflow-Operation": op.ID, "X-Triggerflow-Ticket": op.Ticket,
			"X-Triggerflow-Trigger": op.TriggerID, "X-Triggerflow-Event": string(op.Event),
		},
	}
	if m.To, err = s.recipients(ctx, d, spec.To); err != nil {
		return m, err
	}
	if m.Cc, err = s.recipients(ctx, d, spec.Cc); err != nil {
		return m, err
	}
	subject := spec.Subject
	if subject == "" {
		subject = "SecureChange ticket #ticket_id#: #ticket_subject#"
	}
	if m.Subject, err = s.render("subject of "+op.Action, subject, d, wfi.EscapeNone); err != nil {
		return m, err
	}
	if spec.Template != "" {
		if m.Text, err = s.renderFile(spec.Template, d, wfi.EscapeNone); err != nil {
			return m, err
		}
	} else {
		m.Text, _ = s.render("default body", defaultBody, d, wfi.EscapeNone)
	}
	if spec.HTML != "" {
		if m.HTML, err = s.renderFile(spec.HTML, d, wfi.EscapeHTML); err != nil {
			return m, err
		}
	}
	return m, nil
}

const defaultBody = `SecureChange ticket #ticket_id# (#ticket_subject#): #event#.

-- triggerflow, trigger #trigger_id#
`

// recipients resolves addresses and the keywords requester and handler.
func (s *Service) recipients(ctx context.Context, d *wfi.Data, list []string) ([]string, error) {
	var out []string
	for _, r := range list {
		switch strings.ToLower(strings.TrimSpace(r)) {
		case Requester, Handler:
			addr, err := s.person(ctx, d, strings.ToLower(strings.TrimSpace(r)))
			if err != nil {
				return nil, err
			}
			out = append(out, addr)
		default:
			a, err := mail.ParseAddress(r)
			if err != nil {
				return nil, failure.Permanent(fmt.Errorf("recipient %q is not an e-mail address: %w", r, err))
			}
			out = append(out, a.String())
		}
	}
	return out, nil
}

// person finds the requester's or current handler's address: from the ticket JSON if it
// carries one, else from SecureChange's users API.
func (s *Service) person(ctx context.Context, d *wfi.Data, who string) (string, error) {
	if who == Requester {
		if v, ok := d.Lookup("ticket_requester_email"); ok && v != "" {
			return v, nil
		}
	}
	if d.Ticket == nil {
		return "", failure.Permanent(fmt.Errorf("recipient %s needs the enriched ticket (securechange.url)", who))
	}
	id := d.Ticket.RequesterID
	if who == Handler {
		id = ""
		if st := d.Ticket.CurrentStep; st != nil {
			if step, ok := d.Ticket.StepByName(st.Name); ok {
				for _, t := range step.Tasks {
					if t.AssigneeID != "" && !strings.EqualFold(t.Status, "DONE") {
						id = t.AssigneeID
						break
					}
				}
			}
		}
	}
	if id == "" {
		return "", failure.Permanent(fmt.Errorf("recipient %s: the ticket names no %s", who, who))
	}
	if s.sc == nil {
		return "", failure.Permanent(fmt.Errorf("recipient %s: the ticket has no address and securechange.url is not set to look user %s up", who, id))
	}
	return s.sc.UserEmail(ctx, id)
}

// transient decides between another attempt and giving up.
func (s *Service) transient(r *run, err error) error {
	retry := s.cfg.Notifier.Retry
	n := len(r.attempts)
	if n >= retry.Attempts {
		return s.fail(r, fmt.Errorf("gave up after %d attempts (notifier.retry.attempts): %w", n, err))
	}
	wait := httpx.Backoff(retry.Backoff, retry.MaxBackoff, max(n-1, 0))
	if s.now().Sub(r.storedAt)+wait > retry.MaxAge {
		return s.fail(r, fmt.Errorf("gave up after %d attempts: notifier.retry.max_age %s passed: %w", n, retry.MaxAge, err))
	}
	if b, err := json.Marshal(r.attempts); err == nil {
		_, _ = s.attempts.Put(r.msg.Context(), r.op.ID, b)
	}
	r.log.Warn("email not sent; will retry", "attempt", n, "wait", wait.Round(time.Millisecond), "err", err)
	bus.NackAfter(r.msg, wait)
	return nil
}

// succeed marks the operation done, publishes the result and acks.
func (s *Service) succeed(r *run) error {
	ctx := r.msg.Context()
	res := events.ResultFor(r.op, events.ResultSucceeded)
	res.Attempts = r.attempts
	res.FinishedAt, res.Instance = s.now().UTC(), s.instance
	// The marker is the result itself: a redelivery that finds it republishes it.
	mark, _ := res.Marshal()
	if _, err := s.done.Put(ctx, r.op.ID, mark); err != nil {
		r.log.Warn("sent, but not recorded in scw_done; a redelivery may send it again", "err", err)
	}
	if err := s.publishResult(r.msg, res); err != nil {
		r.log.Warn("result not published; the redelivery will publish it", "err", err)
		bus.NackAfter(r.msg, time.Second)
		return nil
	}
	if len(r.attempts) > 1 {
		_ = s.attempts.Purge(context.WithoutCancel(ctx), r.op.ID)
	}
	r.log.Info("email sent", "attempts", len(r.attempts))
	r.msg.Ack()
	return nil
}

// fail publishes a failed result and dead-letters the operation.
func (s *Service) fail(r *run, cause error) error {
	res := events.ResultFor(r.op, events.ResultFailed)
	res.Error, res.Attempts = cause.Error(), r.attempts
	if err := s.publishResult(r.msg, res); err != nil {
		r.log.Warn("failed result not published", "err", err)
	}
	r.log.Error("email failed; dead-lettered", "attempts", len(r.attempts), "err", cause)
	return s.deadLetter(r.msg, r.op, cause, len(r.attempts))
}

func (s *Service) loadAttempts(ctx context.Context, id string) []events.Attempt {
	e, err := s.attempts.Get(ctx, id)
	if err != nil {
		return nil
	}
	var as []events.Attempt
	_ = json.Unmarshal(e.Value(), &as)
	return as
}

// publishResult records how an operation ended (bus.PublishResult).
func (s *Service) publishResult(msg *message.Message, res events.Result) error {
	if res.FinishedAt.IsZero() {
		res.FinishedAt, res.Instance = s.now().UTC(), s.instance
	}
	return bus.PublishResult(s.pub, msg, res)
}

// deadLetter stores the operation on scw.dlq.notifier.<ticket> (bus.DeadLetter).
func (s *Service) deadLetter(msg *message.Message, op events.Operation, cause error, attempts int) error {
	return bus.DeadLetter(s.pub, msg, ServiceName, op.ID, op.Ticket, cause, attempts)
}

// render renders a template text (each distinct text parsed once).
func (s *Service) render(name, text string, d *wfi.Data, esc wfi.Escape) (string, error) {
	b, err := s.tmpls.Render(name, text, d, esc)
	return string(b), failure.Permanent(err)
}

// renderFile renders a template file (read once).
func (s *Service) renderFile(path string, d *wfi.Data, esc wfi.Escape) (string, error) {
	text, err := s.tmpls.File(path)
	if err != nil {
		return "", failure.Permanent(fmt.Errorf("email template: %w", err))
	}
	return s.render(path, text, d, esc)
}
