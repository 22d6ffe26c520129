package itsmsync

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
)

// publishResult records how an operation ended. Its message id includes the stream
// sequence of the operation's message: a redelivery stores the result once, a redrive
// (a new message) records its own result.
func (s *Service) publishResult(r *opRun, res events.Result) error {
	res.FinishedAt = s.now().UTC()
	res.Instance = s.instance
	b, err := res.Marshal()
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	m := message.NewMessage(res.ID()+"-"+r.msg.Metadata.Get(bus.MetaStreamSeq), b)
	for k, v := range res.Headers() {
		m.Metadata.Set(k, v)
	}
	return s.pub.Publish(res.Subject(), m)
}

// deadLetter stores the operation on scw.dlq.itsm-sync.<ticket> with the error, where
// it was going and how often it was tried; a person redrives it with the nats CLI.
func (s *Service) deadLetter(msg *message.Message, op events.Operation, cause error, attempts int) error {
	ticket := op.Ticket
	if ticket == "" {
		ticket = "unknown"
	}
	id := op.ID
	if id == "" {
		id = msg.UUID
	}
	dl := message.NewMessage("dlq-"+ServiceName+"-"+id+"-"+msg.Metadata.Get(bus.MetaStreamSeq), msg.Payload)
	for k, v := range msg.Metadata {
		switch k {
		case bus.MetaDelivered, bus.MetaStreamSeq, bus.MetaSubject, bus.MetaTimestamp, bus.MetaNakDelay, events.HdrForce:
		default:
			dl.Metadata.Set(k, v)
		}
	}
	dl.Metadata.Set(events.HdrError, cause.Error())
	dl.Metadata.Set(events.HdrService, ServiceName)
	dl.Metadata.Set(events.HdrOriginalSubject, msg.Metadata.Get(bus.MetaSubject))
	dl.Metadata.Set(events.HdrAttempt, fmt.Sprint(attempts))
	if err := s.pub.Publish(fmt.Sprintf(events.SubjDLQT, ServiceName, ticket), dl); err != nil {
		s.log.Error("dead letter not stored; the operation will be redelivered", "op", id, "err", err)
		return fmt.Errorf("dead-letter %s: %w", id, err)
	}
	msg.Ack()
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
