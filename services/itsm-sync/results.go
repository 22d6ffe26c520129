package itsmsync

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
)

// publishResult records how an operation ended (bus.PublishResult).
func (s *Service) publishResult(r *opRun, res events.Result) error {
	if res.FinishedAt.IsZero() {
		res.FinishedAt, res.Instance = s.now().UTC(), s.instance
	}
	return bus.PublishResult(s.pub, r.msg, res)
}

// deadLetter stores the operation on scw.dlq.itsm-sync.<ticket> (bus.DeadLetter).
func (s *Service) deadLetter(msg *message.Message, op events.Operation, cause error, attempts int) error {
	if err := bus.DeadLetter(s.pub, msg, ServiceName, op.ID, op.Ticket, cause, attempts); err != nil {
		s.log.Error("dead letter not stored; the operation will be redelivered", "op", op.ID, "err", err)
		return err
	}
	return nil
}

// publishWriteBack turns a response's field mapping into a securechange update_fields
// operation of its own (deterministic id: a redelivery publishes it once).
func (s *Service) publishWriteBack(r *opRun, fields map[string]string) error {
	spec, _ := json.Marshal(map[string]any{"update_fields": fields})
	action := r.op.Action + ".writeback"
	wb := events.Operation{
		ID: events.OperationID(r.op.TriggerID, r.op.Route, action), Kind: events.OpSecureChange,
		Target: "securechange", Route: r.op.Route, Action: action, TriggerID: r.op.TriggerID,
		Ticket: r.op.Ticket, Event: r.op.Event, Group: r.op.Group, Spec: spec, Attrs: r.op.Attrs,
		Context: r.op.Context,
	}
	b, err := wb.Marshal()
	if err != nil {
		return fmt.Errorf("encode write-back: %w", err)
	}
	m := message.NewMessage(wb.ID, b)
	for k, v := range wb.Headers() {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set(events.HdrCausationID, r.op.ID)
	if err := s.pub.Publish(wb.Subject(), m); err != nil {
		return fmt.Errorf("publish the SecureChange write-back: %w", err)
	}
	return nil
}
