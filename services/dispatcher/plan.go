package dispatcher

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Targets of the operations that do not go to an outbound server.
const (
	TargetSecureChange = "securechange"
	TargetSMTP         = "smtp"
)

// plannedAction is one action of a route as its operations carry it: kind, target and
// the payload (pkg/events), template files already read.
type plannedAction struct {
	name   string
	kind   events.OpKind
	target string
	spec   json.RawMessage
}

// Actions are the routes' actions mapped onto operation payloads once, at start-up: a
// template file is read here, and every operation carries its text.
type Actions map[string][]plannedAction // by route name

// PlanActions maps every route's actions onto their operation payloads, reading their
// template files; an unreadable file fails, naming the route and action.
func PlanActions(routes []config.Route) (Actions, error) {
	out := Actions{}
	for i, r := range routes {
		for j, a := range r.Actions {
			kind, target, spec, err := a.OperationSpec(TargetSMTP, TargetSecureChange)
			if err == nil {
				var b json.RawMessage
				if b, err = events.EncodeSpec(spec); err == nil {
					out[r.Name] = append(out[r.Name], plannedAction{name: a.ActionName(j), kind: kind, target: target, spec: b})
					continue
				}
			}
			return nil, fmt.Errorf("routes[%d] (%s).actions[%d]: %w", i, r.Name, j, err)
		}
	}
	return out, nil
}

// buildOperations turns the matched routes' actions into operations, in route and action
// order. Ids are deterministic (trigger, route, action), so planning the same trigger
// twice (a redelivery, a replay, a second replica) yields the same operations.
func buildOperations(trig events.TriggerEvent, matches []Match, actions Actions) ([]events.Operation, error) {
	var ops []events.Operation
	for _, m := range matches {
		r := m.Route
		planned := actions[r.Name]
		if len(planned) != len(r.Actions) {
			return nil, Permanent(fmt.Errorf("route %s: its actions were not prepared at start-up", r.Name))
		}
		for i, a := range r.Actions {
			pa := planned[i]
			ops = append(ops, events.Operation{
				ID:        events.OperationID(trig.ID, r.Name, pa.name),
				Kind:      pa.kind,
				Target:    pa.target,
				Route:     r.Name,
				Action:    pa.name,
				TriggerID: trig.ID,
				Ticket:    trig.Ticket.ID,
				Event:     trig.Event,
				Mandatory: a.Mandatory,
				Group:     a.Group,
				Attrs:     maps.Clone(a.Attrs),
				Spec:      pa.spec,
			})
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
