package dispatcher

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// Targets of the operations that do not go to an outbound server.
const (
	TargetSecureChange = "securechange"
	TargetSMTP         = "smtp"
)

// buildOperations turns the matched routes' actions into operations, in route and action
// order. Ids are deterministic (trigger, route, action), so planning the same trigger
// twice (a redelivery, a replay, a second replica) yields the same operations.
func buildOperations(trig events.TriggerEvent, matches []Match) ([]events.Operation, error) {
	var ops []events.Operation
	for _, m := range matches {
		r := m.Route
		for i, a := range r.Actions {
			name := a.ActionName(i)
			op := events.Operation{
				ID:        events.OperationID(trig.ID, r.Name, name),
				Route:     r.Name,
				Action:    name,
				TriggerID: trig.ID,
				Ticket:    trig.Ticket.ID,
				Event:     trig.Event,
				Mandatory: a.Mandatory,
				Group:     a.Group,
				Attrs:     maps.Clone(a.Attrs),
			}
			var spec any
			switch {
			case a.ITSM != nil:
				op.Kind, op.Target, spec = events.OpITSM, a.ITSM.Server, a.ITSM
			case a.SecureChange != nil:
				op.Kind, op.Target, spec = events.OpSecureChange, TargetSecureChange, a.SecureChange
			case a.Email != nil:
				op.Kind, op.Target, spec = events.OpEmail, TargetSMTP, a.Email
			default:
				return nil, Permanent(fmt.Errorf("route %s action %s: no kind (config not validated?)", r.Name, name))
			}
			b, err := json.Marshal(spec)
			if err != nil {
				return nil, Permanent(fmt.Errorf("route %s action %s: encode spec: %w", r.Name, name, err))
			}
			op.Spec = b
			ops = append(ops, op)
		}
	}
	return ops, nil
}

// routeNames lists the matched routes' names, in order.
func routeNames(ms []Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Route.Name
	}
	return out
}
