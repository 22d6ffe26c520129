package itsmsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
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
	sc, ticket := s.SecureChange, j.Op.Ticket
	var call func() error
	switch {
	case len(spec.UpdateFields) > 0:
		vals := make(map[string]string, len(spec.UpdateFields))
		for k, t := range spec.UpdateFields {
			v, err := text("update_fields."+k, t)
			if err != nil {
				return runner.Done{}, err
			}
			vals[k] = v
		}
		call = func() error { return sc.UpdateFields(ctx, ticket, vals) }
	case spec.Approve != "" || spec.Reject != "":
		reason, err := text("reason", spec.Approve+spec.Reject)
		if err != nil {
			return runner.Done{}, err
		}
		call = func() error { return sc.ApproveReject(ctx, ticket, spec.Approve != "", reason) }
	case spec.Advance:
		// Pinned to the step the ticket was at when planned: a redelivery after the
		// ticket moved on must not complete the next step too.
		if step := plannedStep(d); step != "" {
			call = func() error { return sc.AdvanceStep(ctx, ticket, step) }
		} else {
			call = func() error { return sc.Advance(ctx, ticket) }
		}
	case spec.Redo != "":
		step, err := text("redo", spec.Redo)
		if err != nil {
			return runner.Done{}, err
		}
		comment, err := text("comment", spec.Comment)
		if err != nil {
			return runner.Done{}, err
		}
		call = func() error { return sc.Redo(ctx, ticket, step, comment) }
	case spec.RejectTicket != "":
		comment, err := text("reject_ticket", spec.RejectTicket)
		if err != nil {
			return runner.Done{}, err
		}
		call = func() error { return sc.RejectTicket(ctx, ticket, comment) }
	default:
		return runner.Done{}, failure.Permanent(errors.New("securechange action with nothing to do"))
	}
	start := s.now()
	err = call()
	attempt(j, start, s.now(), err)
	return runner.Done{}, err
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
	b, err := wb.Marshal()
	if err != nil {
		return fmt.Errorf("encode write-back: %w", err)
	}
	m := message.NewMessage(wb.ID, b)
	for k, v := range wb.Headers() {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set(events.HdrCausationID, op.ID)
	m.SetContext(ctx)
	if err := s.Pub.Publish(wb.Subject(), m); err != nil {
		return fmt.Errorf("publish the SecureChange write-back: %w", err)
	}
	return nil
}
