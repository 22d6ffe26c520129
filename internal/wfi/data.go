package wfi

import (
	"bytes"
	"fmt"
	"time"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Data is everything a template can refer to. Rendering only reads it, so
// one Data may be rendered by several templates at once.
type Data struct {
	Trigger events.TriggerEvent
	// Ticket is the enriched ticket; nil when the trigger was not enriched
	// (fields and steps unknown).
	Ticket *securechange.Ticket
	// Attrs are the operation's attrs: #attr.<k>#.
	Attrs map[string]string
	// Correlation holds the values stored for this ticket and server:
	// #correlation.<k>#.
	Correlation map[string]string
	// Result is a response body (JSON), while mapping a response:
	// #result.<gjson path>#.
	Result []byte
	// Callback is the ITSM callback's JSON body, in an inbound route's operations:
	// #callback.<gjson path>#.
	Callback []byte
	// Custom are the custom placeholders from config: name -> template,
	// looked up before predefined placeholders and ticket fields. A custom
	// template may use other placeholders; a cycle is an error.
	Custom map[string]string
	// Now is the time of current_time and date_only; the caller passes
	// time.Now().
	Now time.Time
}

// NewData builds the Data of an operation: the trigger and the enriched
// ticket from op.Context (a ticket that does not decode is an error naming
// the operation), and the operation's attrs. Correlation, Result and Custom
// are left for the caller. Without a context, the trigger is what the
// operation itself knows: its trigger id, event and ticket id.
func NewData(op events.Operation, now time.Time) (*Data, error) {
	d := &Data{Attrs: op.Attrs, Now: now}
	if op.Context == nil {
		d.Trigger = events.TriggerEvent{ID: op.TriggerID, Event: op.Event, Ticket: events.TicketInfo{ID: op.Ticket}}
		return d, nil
	}
	d.Trigger = op.Context.Trigger
	if cb := op.Context.Callback; cb != nil {
		d.Callback = cb.Body
		if d.Trigger.ID == "" {
			d.Trigger = events.TriggerEvent{ID: op.TriggerID, Event: op.Event, Ticket: events.TicketInfo{ID: op.Ticket}}
		}
	}
	if raw := bytes.TrimSpace(op.Context.Ticket); len(raw) > 0 && string(raw) != "null" {
		t, err := securechange.DecodeTicket(raw)
		if err != nil {
			return nil, fmt.Errorf("operation %s (route %q, action %q, ticket %s): enriched ticket: %w",
				op.ID, op.Route, op.Action, op.Ticket, err)
		}
		d.Ticket = &t
	}
	return d, nil
}

// View is the dot of a Go template: {{.Ticket.Subject}},
// {{range .Ticket.Comments}}…{{end}}, {{.Attrs.key}}, {{.Now.Year}}.
// Ticket is nil when the trigger was not enriched: guard with
// {{with .Ticket}}…{{end}}.
type View struct {
	Trigger     events.TriggerEvent
	Ticket      *securechange.Ticket
	Attrs       map[string]string
	Correlation map[string]string
	Now         time.Time
}

func (d *Data) view() View {
	return View{Trigger: d.Trigger, Ticket: d.Ticket, Attrs: d.Attrs, Correlation: d.Correlation, Now: d.Now}
}
