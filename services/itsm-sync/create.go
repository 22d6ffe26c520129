package itsmsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// CorrelationTicket is the correlation value a create stores for its result: the new
// SecureChange ticket's id.
const CorrelationTicket = "securechange_ticket"

// performCreate creates the SecureChange ticket an ITSM callback asks for ("request
// raised"), then, before the operation is marked done (Done.Commit): it stores the
// correlation both ways (the ticket's values for the callback's server, the record's
// ticket), and publishes the route's actions after the create as operations on the
// new ticket (e.g. an itsm call writing its id back to the ITSM record).
//
// SecureChange has no idempotency key, so a create is made at most once this way: a
// ticket already indexed for the callback's record (a redelivery after the create was
// stored) is not created again; its follow-ups are (re)published, which their ids make
// idempotent. What remains is a kill between SecureChange's answer and the index write,
// a few milliseconds: that redelivery creates a second ticket (README, ITSM-led change).
func (s *Service) performCreate(ctx context.Context, j *runner.Job, spec *events.CreateSpec, d *wfi.Data, text func(what, t string) (string, error)) (runner.Done, error) {
	cb := callbackOf(j.Op)
	if cb == nil {
		return runner.Done{}, failure.Permanent(errors.New("a create needs the ITSM callback it acts on (inbound_routes only)"))
	}
	nt, err := newTicket(spec, text)
	if err != nil {
		return runner.Done{}, err
	}
	correlate := map[string]string{}
	if cb.Record != nil && cb.Record.Value != "" {
		correlate[cb.Record.Key] = cb.Record.Value
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Correlate)) {
		if correlate[k], err = text("create.correlate."+k, spec.Correlate[k]); err != nil {
			return runner.Done{}, err
		}
	}
	id, note := "", ""
	if cb.Record != nil && cb.Record.Value != "" {
		t, ok, err := s.Correlations.Ticket(ctx, cb.Server, cb.Record.Key, cb.Record.Value)
		if err != nil {
			return runner.Done{}, err
		}
		if ok {
			id, note = t, "ticket "+t+" was created for this record already"
		}
	}
	if id == "" {
		start := s.now()
		id, err = s.SecureChange.CreateTicket(ctx, nt)
		attempt(j, start, s.now(), err)
		if err != nil {
			return runner.Done{}, err
		}
		note = "created ticket " + id
	}
	done := runner.Done{Correlation: map[string]string{CorrelationTicket: id}, Note: note}
	done.Commit = func(ctx context.Context) error {
		if err := s.Correlations.Merge(ctx, id, cb.Server, correlate); err != nil {
			return err
		}
		if cb.Record != nil && cb.Record.Value != "" {
			if err := s.Correlations.Index(ctx, cb.Server, cb.Record.Key, cb.Record.Value, id); err != nil {
				return err
			}
		}
		return s.publishThen(ctx, j.Op, id, spec.Then)
	}
	return done, nil
}

// callbackOf is the ITSM callback of an inbound route's operation (nil for others).
func callbackOf(op events.Operation) *events.InboundEvent {
	if op.Context == nil {
		return nil
	}
	return op.Context.Callback
}

// newTicket renders the ticket to create.
func newTicket(spec *events.CreateSpec, text func(what, t string) (string, error)) (securechange.NewTicket, error) {
	var nt securechange.NewTicket
	var err error
	for _, f := range []struct {
		name string
		dst  *string
		tmpl string
	}{
		{"workflow", &nt.Workflow, spec.Workflow}, {"subject", &nt.Subject, spec.Subject},
		{"requester", &nt.Requester, spec.Requester}, {"priority", &nt.Priority, spec.Priority},
	} {
		if *f.dst, err = text("create."+f.name, f.tmpl); err != nil {
			return nt, err
		}
	}
	if len(spec.Fields) > 0 {
		nt.Fields = make(map[string]string, len(spec.Fields))
		for k, t := range spec.Fields {
			if nt.Fields[k], err = text("create.fields."+k, t); err != nil {
				return nt, err
			}
		}
	}
	nt.AccessRequestField = spec.AccessRequestField
	for i, row := range spec.AccessRequests {
		var ar securechange.AccessRequest
		what := fmt.Sprintf("create.access_requests[%d].", i)
		for _, f := range []struct {
			name string
			dst  *[]string
			tmpl string
		}{{"sources", &ar.Sources, row.Sources}, {"destinations", &ar.Destinations, row.Destinations}, {"services", &ar.Services, row.Services}} {
			v, err := text(what+f.name, f.tmpl)
			if err != nil {
				return nt, err
			}
			*f.dst = splitList(v)
		}
		if ar.Action, err = text(what+"action", row.Action); err != nil {
			return nt, err
		}
		if ar.Comment, err = text(what+"comment", row.Comment); err != nil {
			return nt, err
		}
		nt.AccessRequests = append(nt.AccessRequests, ar)
	}
	return nt, nil
}

// splitList splits a rendered list on commas and new lines, dropping empty entries.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ';' }) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// publishThen publishes the actions planned after a create as operations on the new
// ticket, each with its deterministic id (a redelivery publishes them once), in the
// trace of ctx.
func (s *Service) publishThen(ctx context.Context, op events.Operation, ticket string, then []events.ThenSpec) error {
	for _, t := range then {
		oc := *op.Context
		oc.Trigger.Ticket.ID = ticket
		next := events.Operation{
			ID: events.OperationID(op.TriggerID, op.Route, t.Name), Kind: t.Kind, Target: t.Target,
			Route: op.Route, Action: t.Name, TriggerID: op.TriggerID, Ticket: ticket, Event: op.Event,
			Spec: t.Spec, Attrs: op.Attrs, Context: &oc,
		}
		if err := s.publishOp(ctx, next, op.ID); err != nil {
			return fmt.Errorf("publish %s on the new ticket %s: %w", t.Name, ticket, err)
		}
	}
	return nil
}
