package dispatcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// inboundEnv is what an inbound route's `when` condition sees (expr-lang/expr, the
// language of the routes' conditions):
//
//	callback  map    the callback's JSON object: callback.state == "approved",
//	                 callback.approval.state (a missing key is nil)
//	path(p)   string a gjson path of the callback: a string as is, null and a missing
//	                 path "", anything else its JSON text: path("result.0.number")
//	server    string the server it came from
//	ticket    string the SecureChange ticket it names ("" when it names only its record)
//	record    string the ITSM record's value ("" when it names none)
//
// For example: callback.approval == "approved" && path("u_sc_step") != "".
type inboundEnv struct {
	Callback map[string]any      `expr:"callback"`
	Path     func(string) string `expr:"path"`
	Server   string              `expr:"server"`
	Ticket   string              `expr:"ticket"`
	Record   string              `expr:"record"`
}

func newInboundEnv(cb events.InboundEvent) (*inboundEnv, error) {
	e := &inboundEnv{Server: cb.Server, Ticket: cb.Ticket, Callback: map[string]any{}}
	if cb.Record != nil {
		e.Record = cb.Record.Value
	}
	if len(cb.Body) > 0 {
		if err := json.Unmarshal(cb.Body, &e.Callback); err != nil {
			return nil, Permanent(fmt.Errorf("callback %s: the body is not a JSON object: %w", cb.ID, err))
		}
	}
	body := cb.Body
	e.Path = func(p string) string {
		v, _ := wfi.JSONPath(body, p, "")
		return v
	}
	return e, nil
}

// InboundRoute is a compiled inbound route: its condition and its actions planned.
type InboundRoute struct {
	route   *config.InboundRoute
	when    *vm.Program // nil: always
	actions []plannedAction
	// creates: the route's first action creates a ticket; the rest act on that ticket.
	creates bool
}

// Name is the route's name (inbound_routes[].name).
func (r *InboundRoute) Name() string { return r.route.Name }

// InboundRoutes are the compiled inbound_routes, safe for concurrent use.
type InboundRoutes struct{ routes []InboundRoute }

// CompileInboundRoutes compiles every inbound route's condition and plans its actions
// (templates read), once. A route whose first action is a create plans one operation:
// the create, carrying the route's other actions, performed on the new ticket
// (events.CreateSpec.Then). Errors name the route: "inbound_routes[1] (approved).when: …".
func CompileInboundRoutes(routes []config.InboundRoute) (*InboundRoutes, error) {
	own := slices.Clone(routes)
	out := &InboundRoutes{}
	var errs []error
	for i := range own {
		r := &own[i]
		label := fmt.Sprintf("inbound_routes[%d] (%s)", i, r.Name)
		c := InboundRoute{route: r}
		if strings.TrimSpace(r.When) != "" {
			p, err := expr.Compile(r.When, expr.Env(inboundEnv{}), expr.AsBool())
			if err != nil {
				msg, _, _ := strings.Cut(err.Error(), "\n")
				if strings.HasPrefix(msg, "unknown name ") {
					msg += ": a condition can use callback, path(…), server, ticket and record"
				}
				errs = append(errs, fmt.Errorf("%s.when: %s", label, msg))
			}
			c.when = p
		}
		actions, creates, err := planInboundActions(r.Actions)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", label, err))
		}
		c.actions, c.creates = actions, creates
		out.routes = append(out.routes, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// planInboundActions maps a route's actions onto operation payloads; a create first
// takes the others as its Then.
func planInboundActions(as []config.Action) ([]plannedAction, bool, error) {
	var out []plannedAction
	for j, a := range as {
		kind, target, spec, err := a.OperationSpec(TargetSMTP, TargetSecureChange)
		if err != nil {
			return nil, false, fmt.Errorf("actions[%d]: %w", j, err)
		}
		b, err := events.EncodeSpec(spec)
		if err != nil {
			return nil, false, fmt.Errorf("actions[%d]: %w", j, err)
		}
		out = append(out, plannedAction{name: a.ActionName(j), kind: kind, target: target, spec: b})
	}
	if len(as) == 0 || as[0].SecureChange == nil || as[0].SecureChange.Create == nil {
		return out, false, nil
	}
	for j, a := range as[1:] {
		if a.SecureChange != nil && a.SecureChange.Create != nil {
			return nil, false, fmt.Errorf("actions[%d]: a route creates one ticket, with its first action", j+1)
		}
	}
	spec := as[0].SecureChange.Spec()
	for _, pa := range out[1:] {
		spec.Create.Then = append(spec.Create.Then, events.ThenSpec{Name: pa.name, Kind: pa.kind, Target: pa.target, Spec: pa.spec})
	}
	b, err := events.EncodeSpec(spec)
	if err != nil {
		return nil, false, fmt.Errorf("actions[0]: %w", err)
	}
	out[0].spec = b
	return out[:1], true, nil
}

// Match returns the routes of the callback's server whose condition holds, in order.
func (rs *InboundRoutes) Match(cb events.InboundEvent) ([]*InboundRoute, error) {
	var env *inboundEnv
	var out []*InboundRoute
	for i := range rs.routes {
		r := &rs.routes[i]
		if r.route.Server != cb.Server {
			continue
		}
		if r.when != nil {
			if env == nil {
				var err error
				if env, err = newInboundEnv(cb); err != nil {
					return nil, err
				}
			}
			ok, err := expr.Run(r.when, env)
			if err != nil {
				return nil, Permanent(fmt.Errorf("inbound_routes[%d] (%s).when: %w", i, r.route.Name, err))
			}
			if !ok.(bool) {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}
