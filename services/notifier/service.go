package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// ServiceName names the notifier in dead letters and logs.
const ServiceName = "notifier"

// TargetSMTP is the target of email operations.
const TargetSMTP = "smtp"

// Recipient keywords resolved from the ticket.
const (
	Requester = "requester"
	Handler   = "handler"
)

// Sender sends one email (the mailer; tests may wrap it).
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// Service sends email operations and failure alerts: Perform and the alerter's Perform
// are its business logic (the runner does the rest).
type Service struct {
	Log          *slog.Logger
	Cfg          Config
	Mail         Sender
	SecureChange *securechange.Client // nil: requester/handler only from the ticket JSON
	Now          func() time.Time

	routes  map[string]config.Route
	tmpls   wfi.Cache
	metrics *metrics // nil: none
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Perform sends one email operation (runner.Perform).
func (s *Service) Perform(ctx context.Context, j *runner.Job) (runner.Done, error) {
	start := s.now()
	m, err := s.compose(ctx, j.Op)
	if err != nil {
		if !failure.IsPermanent(err) { // a request to SecureChange's users API failed
			a := events.Attempt{At: start.UTC(), Latency: s.now().Sub(start)}
			runner.Failed(&a, err)
			j.Record(a)
		}
		return runner.Done{}, err
	}
	return runner.Done{}, s.send(ctx, j, m, mailOperation)
}

// send sends m, recording the attempt. A server that cannot be reached at all is an
// outage (not counted against notifier.retry.attempts).
func (s *Service) send(ctx context.Context, j *runner.Job, m mailer.Message, kind string) error {
	start := s.now()
	err := s.Mail.Send(ctx, m)
	s.metrics.sent(kind, s.now().Sub(start), err)
	var op *net.OpError
	if err != nil && !failure.IsPermanent(err) && errors.As(err, &op) && op.Op == "dial" {
		err = failure.Outage(err)
	}
	a := events.Attempt{At: start.UTC(), Latency: s.now().Sub(start)}
	runner.Failed(&a, err)
	j.Record(a)
	return err
}

// Retry is the retry policy of every email and alert.
func (s *Service) Retry(events.Operation) config.Retry { return s.Cfg.Notifier.Retry }

// compose renders the email of an operation and resolves its recipients.
func (s *Service) compose(ctx context.Context, op events.Operation) (mailer.Message, error) {
	spec, err := op.Email()
	if err != nil {
		return mailer.Message{}, failure.Permanent(err)
	}
	d, err := wfi.NewData(op, s.now())
	if err != nil {
		return mailer.Message{}, failure.Permanent(err)
	}
	d.Custom = s.Cfg.Placeholders
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
	text, name := spec.Text, spec.TextName
	if text == "" {
		text, name = defaultBody, "default body"
	}
	if m.Text, err = s.render(nameOr(name, "text of "+op.Action), text, d, wfi.EscapeNone); err != nil {
		return m, err
	}
	if spec.HTML != "" {
		if m.HTML, err = s.render(nameOr(spec.HTMLName, "html of "+op.Action), spec.HTML, d, wfi.EscapeHTML); err != nil {
			return m, err
		}
	}
	return m, nil
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
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
			addrs, err := s.person(ctx, d, strings.ToLower(strings.TrimSpace(r)))
			if err != nil {
				return nil, err
			}
			out = append(out, addrs...)
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

// person finds the requester's or current handler's addresses: from the ticket JSON if it
// carries one, else from SecureChange's users API (a handler that is a group: its
// members' addresses).
func (s *Service) person(ctx context.Context, d *wfi.Data, who string) ([]string, error) {
	if who == Requester {
		if v, ok := d.Lookup("ticket_requester_email"); ok && v != "" {
			return []string{v}, nil
		}
	}
	if d.Ticket == nil {
		return nil, failure.Permanent(fmt.Errorf("recipient %s needs the enriched ticket (securechange.url)", who))
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
		return nil, failure.Permanent(fmt.Errorf("recipient %s: the ticket names no %s", who, who))
	}
	if s.SecureChange == nil {
		return nil, failure.Permanent(fmt.Errorf("recipient %s: the ticket has no address and securechange.url is not set to look user %s up", who, id))
	}
	return s.SecureChange.UserEmails(ctx, id)
}

// render renders a template text (each distinct text parsed once).
func (s *Service) render(name, text string, d *wfi.Data, esc wfi.Escape) (string, error) {
	b, err := s.tmpls.Render(name, text, d, esc)
	return string(b), failure.Permanent(err)
}
