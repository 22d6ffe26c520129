// Package events is triggerflow's wire contract: the SecureChange trigger
// names, the fields of the ticket_info XML SecureChange hands to scripts
// (TicketInfo; internal/securechange decodes it), the TriggerEvent the ingress stores,
// deterministic message ids, and the subjects, headers and streams every service uses.
// It depends on the standard library and github.com/go-json-experiment/json (codec.go)
// only.
package events

import (
	"fmt"
	"time"
)

// TriggerEvent is what the ingress stores in SCW_TRIGGERS for one trigger.
// Its JSON form is the wire contract (testdata/trigger_event.golden.json).
type TriggerEvent struct {
	ID         string     `json:"id"` // TriggerID; also the Nats-Msg-Id
	Event      Trigger    `json:"event"`
	Ticket     TicketInfo `json:"ticket"`
	Args       string     `json:"args,omitempty"`   // the mediator's args, as sent (argv[2..] joined by spaces)
	Script     string     `json:"script,omitempty"` // the mediator's EXEC_SCRIPT value
	RawXML     string     `json:"raw_xml"`          // ticket_info exactly as received
	ReceivedAt time.Time  `json:"received_at"`
	Ingress    string     `json:"ingress"`             // instance that received it
	Recovered  bool       `json:"recovered,omitempty"` // args/script were read literally from the seed mediator's unescaped layout
}

// NewTriggerEvent builds the event for a decoded trigger, with its ID set by
// TriggerID. ReceivedAt, Ingress and Recovered are left for the caller.
func NewTriggerEvent(event Trigger, info TicketInfo, rawXML []byte, args, script string) TriggerEvent {
	return TriggerEvent{
		ID:     TriggerID(event, info, args),
		Event:  event,
		Ticket: info,
		Args:   args,
		Script: script,
		RawXML: string(rawXML),
	}
}

// Subject returns the subject the event is published on,
// fmt.Sprintf(SubjTriggerT, e.Event.Token(), e.Ticket.ID).
func (e TriggerEvent) Subject() string {
	// Concatenation is the same as the format, without its cost per request.
	return "scw.trigger." + e.Event.Token() + "." + e.Ticket.ID
}

// StoredSubject is the subject SCW_TRIGGERS stores the event under, with the ticket's
// partition (the dispatcher's lane): scw.trigger.<event>.<partition>.<ticket>.
func (e TriggerEvent) StoredSubject() string {
	return fmt.Sprintf(SubjTriggerStoredT, e.Event.Token(), Partition(e.Ticket.ID), e.Ticket.ID)
}

// Headers returns the headers of the event's message. A trigger is the root
// of its chain, so its causation and correlation ids are its own id.
func (e TriggerEvent) Headers() map[string]string {
	return map[string]string{
		HdrTriggerID:     e.ID,
		HdrCausationID:   e.ID,
		HdrCorrelationID: e.ID,
		HdrTicketID:      e.Ticket.ID,
		HdrEvent:         string(e.Event),
	}
}

// Marshal returns the event's JSON form. "<", ">" and "&" are not escaped,
// so raw_xml stays readable in `nats stream view`.
func (e TriggerEvent) Marshal() ([]byte, error) {
	b, err := marshal(e)
	if err != nil {
		return nil, fmt.Errorf("marshal trigger event %s: %w", e.ID, err)
	}
	return b, nil
}

// UnmarshalTriggerEvent decodes the JSON form of a TriggerEvent. Unknown
// fields are ignored, so older readers accept newer events.
func UnmarshalTriggerEvent(b []byte) (TriggerEvent, error) {
	var e TriggerEvent
	if err := unmarshal(b, &e); err != nil {
		return TriggerEvent{}, fmt.Errorf("unmarshal trigger event: %w", err)
	}
	return e, nil
}
