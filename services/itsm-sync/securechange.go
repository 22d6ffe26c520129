package itsmsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// performSecureChange performs one write-back.
func (s *Service) performSecureChange(ctx context.Context, j *runner.Job) (runner.Done, error) {
	spec, err := j.Op.SecureChange()
	if err != nil {
		return runner.Done{}, failure.Permanent(err)
	}
	corr, err := s.Correlations.Get(ctx, j.Op.Ticket, TargetSecureChange)
	if err != nil {
		return runner.Done{}, err
	}
	d, err := s.newData(j.Op, corr)
	if err != nil {
		return runner.Done{}, err
	}
	text := func(what, t string) (string, error) {
		return s.renderString(what+" of "+j.Op.Action, t, d, wfi.EscapeNone)
	}
	if spec.Create != nil {
		return s.performCreate(ctx, j, spec.Create, d, text)
	}
	// The step the ticket must be at (an inbound callback's approval of a step): a
	// ticket that left it is not changed, and the operation is refused (skipped).
	guard, err := text("step", spec.Step)
	if err != nil {
		return runner.Done{}, err
	}
	call, err := s.writeBack(ctx, j, spec, guard, d, text)
	if err != nil {
		return runner.Done{}, err
	}
	start := s.now()
	err = call()
	attempt(j, start, s.now(), err)
	if errors.Is(err, securechange.ErrNotAtStep) {
		return runner.Done{}, &runner.RefusedError{Err: err}
	}
	return runner.Done{}, err
}

// writeBack renders spec's values and returns the one SecureChange call it makes.
func (s *Service) writeBack(ctx context.Context, j *runner.Job, spec events.SecureChangeSpec, guard string, d *wfi.Data, text func(what, t string) (string, error)) (func() error, error) {
	sc, ticket := s.SecureChange, j.Op.Ticket
	switch {
	case len(spec.UpdateFields) > 0:
		vals := make(map[string]string, len(spec.UpdateFields))
		for k, t := range spec.UpdateFields {
			v, err := text("update_fields."+k, t)
			if err != nil {
				return nil, err
			}
			vals[k] = v
		}
		return func() error { return sc.UpdateFieldsAt(ctx, ticket, guard, vals) }, nil
	case spec.Approve != "" || spec.Reject != "":
		reason, err := text("reason", spec.Approve+spec.Reject)
		if err != nil {
			return nil, err
		}
		return func() error { return sc.ApproveRejectAt(ctx, ticket, guard, spec.Approve != "", reason) }, nil
	case spec.Advance:
		// Pinned to the step the ticket was at when planned (or the callback's): a
		// redelivery after the ticket moved on must not complete the next step too.
		if step := cmp.Or(guard, plannedStep(d)); step != "" {
			return func() error { return sc.AdvanceStep(ctx, ticket, step) }, nil
		}
		return func() error { return sc.Advance(ctx, ticket) }, nil
	case spec.Redo != "":
		step, err := text("redo", spec.Redo)
		if err != nil {
			return nil, err
		}
		comment, err := text("comment", spec.Comment)
		if err != nil {
			return nil, err
		}
		return func() error { return sc.Redo(ctx, ticket, step, comment) }, nil
	case spec.RejectTicket != "":
		comment, err := text("reject_ticket", spec.RejectTicket)
		if err != nil {
			return nil, err
		}
		return func() error { return sc.RejectTicket(ctx, ticket, comment) }, nil
	case spec.Comment != "":
		comment, err := text("comment", spec.Comment)
		if err != nil {
			return nil, err
		}
		return func() error {
			// A comment is not idempotent: a redelivery (the replica that made it may have
			// died before recording it) first looks for it on the ticket.
			if j.Delivered > 1 && !j.Forced {
				if t, err := sc.Ticket(ctx, ticket); err == nil && hasComment(t, comment) {
					j.Log.Info("the comment is on the ticket already (a redelivery): not added again")
					return nil
				}
			}
			return sc.AddCommentAt(ctx, ticket, guard, comment)
		}, nil
	}
	return nil, failure.Permanent(errors.New("securechange action with nothing to do"))
}

// hasComment reports whether the ticket has a comment with exactly this text.
func hasComment(t securechange.Ticket, text string) bool {
	for _, c := range t.Comments {
		if strings.TrimSpace(c.Content) == strings.TrimSpace(text) {
			return true
		}
	}
	return false
}

// plannedStep is the ticket's current step when the operation was planned: from the
// enriched ticket, else the trigger's current stage ("" if neither is known).
func plannedStep(d *wfi.Data) string {
	if d.Ticket != nil && d.Ticket.CurrentStep != nil {
		return d.Ticket.CurrentStep.Name
	}
	if st := d.Trigger.Ticket.CurrentStage; st != nil {
		return st.Name
	}
	return ""
}

// publishWriteBack turns a response's field mapping into a securechange update_fields
// operation of its own (deterministic id: a redelivery publishes it once). It joins the
// ticket's SecureChange lane behind what is already queued there, in the trace of ctx
// (the ITSM operation's span).
func (s *Service) publishWriteBack(ctx context.Context, op events.Operation, fields map[string]string) error {
	spec, err := events.EncodeSpec(events.SecureChangeSpec{UpdateFields: fields})
	if err != nil {
		return err
	}
	action := op.Action + ".writeback"
	wb := events.Operation{
		ID: events.OperationID(op.TriggerID, op.Route, action), Kind: events.OpSecureChange,
		Target: TargetSecureChange, Route: op.Route, Action: action, TriggerID: op.TriggerID,
		Ticket: op.Ticket, Event: op.Event, Group: op.Group, Spec: spec, Attrs: op.Attrs,
		Context: op.Context,
	}
	if err := s.publishOp(ctx, wb, op.ID); err != nil {
		return fmt.Errorf("publish the SecureChange write-back: %w", err)
	}
	return nil
}

// publishOp publishes an operation caused by the operation causation (its id is its
// Nats-Msg-Id: a redelivery publishes it once), in the trace of ctx.
func (s *Service) publishOp(ctx context.Context, op events.Operation, causation string) error {
	b, err := op.Marshal()
	if err != nil {
		return fmt.Errorf("encode operation %s: %w", op.ID, err)
	}
	m := message.NewMessage(op.ID, b)
	for k, v := range op.Headers() {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set(events.HdrCausationID, causation)
	m.SetContext(ctx)
	return s.Pub.Publish(op.Subject(), m)
}
