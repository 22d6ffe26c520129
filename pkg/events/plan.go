package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// OpKind is what an operation does, and so which service performs it.
type OpKind string

// Operation kinds.
const (
	OpITSM         OpKind = "itsm"         // a call to an outbound ITSM server (itsm-sync)
	OpSecureChange OpKind = "securechange" // a write-back to SecureChange (itsm-sync)
	OpEmail        OpKind = "email"        // an email (notifier)
)

// Operation is one thing a trigger must cause: the plugins' "resource". It travels
// on scw.op.<kind>.<target>.<ticket> with its ID as Nats-Msg-Id.
type Operation struct {
	ID        string  `json:"id"`
	Kind      OpKind  `json:"kind"`
	Target    string  `json:"target"` // outbound server name, "securechange" or "smtp"
	Route     string  `json:"route"`  // the route that planned it, or the plugin that added it
	Action    string  `json:"action"` // the action's name, unique within its route
	TriggerID string  `json:"trigger_id"`
	Ticket    string  `json:"ticket"`
	Event     Trigger `json:"event"`
	// Mandatory operations can never be removed by a rewrite plugin.
	Mandatory bool `json:"mandatory,omitempty"`
	// Group: operations sharing a group succeed or fail together (groupApproval).
	Group string `json:"group,omitempty"`
	// Spec holds the action's kind-specific settings (method, path, body template,
	// fields, recipients, …) as configured or as a plugin rewrote them.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Attrs are free key/values, set by routes or plugins, passed to templates.
	Attrs map[string]string `json:"attrs,omitempty"`
	// Context is the data its templates render from. In a recorded plan it is left out
	// (the trigger is stored once, in SCW_TRIGGERS); on the operation's own message it
	// is always present.
	Context *OpContext `json:"context,omitempty"`
}

// OperationID derives an operation's id from the trigger it serves, the route and
// the action: a replay or a second dispatcher planning the same trigger yields the
// same ids, so JetStream stores each operation once.
func OperationID(triggerID, route, action string) string {
	return hashParts("op/v1", triggerID, route, action)
}

// Subject is scw.op.<kind>.<target>.<ticket>, where the operation is published.
func (o Operation) Subject() string {
	return "scw.op." + string(o.Kind) + "." + subjectToken(o.Target) + "." + o.Ticket
}

// StoredSubject is scw.op.<kind>.<target>.<partition>.<ticket>, the subject SCW_OPS
// stores it under (its lane).
func (o Operation) StoredSubject() string {
	return fmt.Sprintf(SubjOpStoredT, o.Kind, subjectToken(o.Target), Partition(o.Ticket), o.Ticket)
}

// Lane is the ticket and destination whose operations are performed in order:
// <target>.<ticket>, the key of its park record (BucketParked).
func (o Operation) Lane() string { return LaneKey(o.Target, o.Ticket) }

// HeldSubject is scw.lane.held.<target>.<ticket>, the lane's hold marker in SCW_RESULTS:
// it has a message while the lane has a park record (BucketParked).
func (o Operation) HeldSubject() string { return LaneHeldSubject(o.Lane()) }

// LaneHeldSubject is the hold marker subject of a lane (LaneKey): scw.lane.held.<lane>.
func LaneHeldSubject(lane string) string { return "scw.lane.held." + lane }

// ParkedSubject is scw.parked.<target>.<ticket>, where the lane's operations wait
// while it is held back behind a failed one.
func (o Operation) ParkedSubject() string { return "scw.parked." + o.Lane() }

// LaneKey is the key of a ticket's lane to a destination: <target>.<ticket>.
func LaneKey(target, ticket string) string { return subjectToken(target) + "." + ticket }

// Headers are the headers of the operation's message: its causation is the plan
// (the trigger id), its correlation the trigger.
func (o Operation) Headers() map[string]string {
	return map[string]string{
		HdrTriggerID:     o.TriggerID,
		HdrCausationID:   PlanID(o.TriggerID),
		HdrCorrelationID: o.TriggerID,
		HdrTicketID:      o.Ticket,
		HdrEvent:         string(o.Event),
	}
}

// PlanStatus is the outcome of planning a trigger.
type PlanStatus string

// Plan statuses.
const (
	PlanPlanned PlanStatus = "planned" // operations published (possibly none)
	PlanFailed  PlanStatus = "failed"  // no operation published; Error says why; dead-lettered
)

// Plan is the change plan of one trigger: every operation it must cause, recorded on
// scw.plan.<event>.<ticket> in the same batch as its operations (the dispatcher acks the
// trigger only once all are stored).
type Plan struct {
	ID         string      `json:"id"` // PlanID(TriggerID)
	TriggerID  string      `json:"trigger_id"`
	Ticket     string      `json:"ticket"`
	Event      Trigger     `json:"event"`
	Workflow   string      `json:"workflow,omitempty"`
	Status     PlanStatus  `json:"status"`
	Error      string      `json:"error,omitempty"`
	Info       []string    `json:"info,omitempty"`   // plugins' infomsg and notes (e.g. a refused removal)
	Routes     []string    `json:"routes,omitempty"` // the routes that matched, in order
	Operations []Operation `json:"operations"`
	Enriched   bool        `json:"enriched"` // the ticket was fetched from SecureChange
	PlannedAt  time.Time   `json:"planned_at"`
	Dispatcher string      `json:"dispatcher,omitempty"` // instance that planned it
}

// PlanID is the id (and Nats-Msg-Id) of a trigger's plan.
func PlanID(triggerID string) string { return "plan-" + triggerID }

// Subject is scw.plan.<event>.<ticket>.
func (p Plan) Subject() string { return "scw.plan." + p.Event.Token() + "." + p.Ticket }

// Headers of the plan's message: caused by the trigger.
func (p Plan) Headers() map[string]string {
	return map[string]string{
		HdrTriggerID:     p.TriggerID,
		HdrCausationID:   p.TriggerID,
		HdrCorrelationID: p.TriggerID,
		HdrTicketID:      p.Ticket,
		HdrEvent:         string(p.Event),
	}
}

// Marshal encodes the plan.
func (p Plan) Marshal() ([]byte, error) { return marshal(p) }

// Marshal encodes the operation.
func (o Operation) Marshal() ([]byte, error) { return marshal(o) }

// UnmarshalPlan decodes a plan.
func UnmarshalPlan(b []byte) (Plan, error) {
	var p Plan
	err := unmarshal(b, &p)
	return p, err
}

// UnmarshalOperation decodes an operation.
func UnmarshalOperation(b []byte) (Operation, error) {
	var o Operation
	err := unmarshal(b, &o)
	return o, err
}

// subjectToken makes a config name safe as one subject token.
func subjectToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c < 0x20 {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
