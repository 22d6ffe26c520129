package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// noGroup is the seed's "no approval group" value.
const noGroup = "00000000-0000-0000-0000-000000000000"

// merge is one reply being applied to a plan (Rewriter.apply).
type merge struct {
	r        *Rewriter
	p        *plugin
	plan     *events.Plan
	route    string // "plugin:<name>": the route of the operations the plugin adds
	ops      []events.Operation
	idx      map[string]int  // operation id -> index in ops
	returned map[string]bool // ids of the operations the reply returned
	removed  map[string]bool // ids of the operations to remove
}

// apply merges a reply's resources and approval groups into plan (see the package
// documentation, Semantics). Errors are permanent: the reply breaks the contract.
func (r *Rewriter) apply(p *plugin, plan *events.Plan, rep *reply) error {
	m := &merge{
		r: r, p: p, plan: plan, route: "plugin:" + p.name, ops: plan.Operations,
		idx: make(map[string]int, len(plan.Operations)), returned: map[string]bool{}, removed: map[string]bool{},
	}
	for i, op := range m.ops {
		m.idx[op.ID] = i
	}
	for i := range rep.Resources {
		if err := m.resource(i, &rep.Resources[i]); err != nil {
			return err
		}
	}
	if !rep.RetainResources {
		m.removeUnreturned()
	}
	for _, g := range rep.GroupApproval {
		if err := m.group(g); err != nil {
			return err
		}
	}
	plan.Operations = slices.DeleteFunc(m.ops, func(op events.Operation) bool { return m.removed[op.ID] })
	stampOperations(plan)
	return nil
}

// resource applies the i-th returned resource: remove, update or add.
func (m *merge) resource(i int, res *resourceReply) error {
	id, action := res.ID, deref(res.Action)
	if action == "" {
		kind := deref(res.Kind)
		if kind == "" {
			kind = "resource"
		}
		action = fmt.Sprintf("%s-%d", kind, i)
	}
	if id == "" {
		id = events.OperationID(m.plan.TriggerID, m.route, action)
	}
	m.returned[id] = true
	j, exists := m.idx[id]
	switch {
	case res.Remove && !exists:
		m.r.log.Debug("rewrite plugin removed an unknown resource", "plugin", m.p.name, "operation", id)
	case res.Remove && m.ops[j].Mandatory:
		m.refuse(&m.ops[j], "plugin %[1]q tried to remove mandatory operation %[2]s; kept")
	case res.Remove:
		m.removed[id] = true
	case exists:
		delete(m.removed, id)
		if err := updateOperation(&m.ops[j], res, func(op *events.Operation) {
			m.refuse(op, "plugin %[1]q tried to make mandatory operation %[2]s optional; kept mandatory")
		}); err != nil {
			return invalid("resource %s: %w", id, err)
		}
	default:
		op, err := newOperation(id, m.route, action, res)
		if err != nil {
			return invalid("added resource %s (action %q): %w", id, action, err)
		}
		m.ops = append(m.ops, op)
		m.idx[id] = len(m.ops) - 1
	}
	return nil
}

// removeUnreturned removes the operations the reply did not return, but for the
// mandatory ones (retainResources false).
func (m *merge) removeUnreturned() {
	for j := range m.ops {
		if op := &m.ops[j]; !m.returned[op.ID] {
			if op.Mandatory {
				m.refuse(op, "plugin %[1]q tried to remove mandatory operation %[2]s by not returning it (retainResources false); kept")
			} else {
				m.removed[op.ID] = true
			}
		}
	}
}

// group applies a top-level groupApproval entry: its references are operation ids, or
// actions of operations this plugin added.
func (m *merge) group(g approvalGroup) error {
	for _, ref := range g.Resources {
		j, ok := m.idx[ref]
		if !ok {
			j, ok = m.idx[events.OperationID(m.plan.TriggerID, m.route, ref)]
		}
		if !ok || m.removed[m.ops[j].ID] {
			return invalid("groupApproval %q names %q, which is no operation of the plan", g.Group, ref)
		}
		m.ops[j].Group = normGroup(g.Group)
	}
	return nil
}

// refuse notes a refused change of a mandatory operation in the log and the plan's
// info; format has the verbs %[1]q (the plugin) and %[2]s (the operation).
func (m *merge) refuse(op *events.Operation, format string) {
	note := fmt.Sprintf(format, m.p.name, fmt.Sprintf("%s (route %q, action %q)", op.ID, op.Route, op.Action))
	m.r.log.Warn("rewrite plugin refused", "plugin", m.p.name, "trigger_id", m.plan.TriggerID, "operation", op.ID, "note", note)
	m.plan.Info = append(m.plan.Info, note)
}

// updateOperation applies the fields a resource carries to op. refuse is called when
// the resource would make a mandatory operation optional.
func updateOperation(op *events.Operation, res *resourceReply, refuse func(*events.Operation)) error {
	if res.Kind != nil {
		if !validKind(*res.Kind) {
			return fmt.Errorf("kind %q is not itsm, securechange or email", *res.Kind)
		}
		op.Kind = events.OpKind(*res.Kind)
	}
	if res.Target != nil {
		if *res.Target == "" {
			return errors.New("target is empty")
		}
		op.Target = *res.Target
	}
	if res.Group != nil {
		op.Group = normGroup(*res.Group)
	}
	if res.Mandatory != nil {
		switch {
		case *res.Mandatory:
			op.Mandatory = true
		case op.Mandatory:
			refuse(op)
		}
	}
	if res.SpecSet && !specEqual(op.Spec, res.Spec) {
		op.Spec = res.Spec
	}
	if res.AttrsSet {
		op.Attrs = maps.Clone(res.Attrs)
	}
	applyAutoselect(op, res.Autoselect)
	if len(op.Attrs) == 0 {
		op.Attrs = nil
	}
	return nil
}

// newOperation builds the operation a resource with a new id adds.
func newOperation(id, route, action string, res *resourceReply) (events.Operation, error) {
	op := events.Operation{ID: id, Route: route, Action: action}
	if res.Kind == nil || *res.Kind == "" {
		return op, errors.New("kind is required (itsm, securechange or email)")
	}
	if res.Target == nil || *res.Target == "" {
		switch events.OpKind(*res.Kind) {
		case events.OpSecureChange:
			op.Target = "securechange"
		case events.OpEmail:
			op.Target = "smtp"
		case events.OpITSM:
			return op, errors.New("target (the outbound server) is required for kind itsm")
		}
	}
	err := updateOperation(&op, res, func(*events.Operation) {})
	return op, err
}

func applyAutoselect(op *events.Operation, v *string) {
	if v == nil {
		return
	}
	switch *v {
	case "true", "mandatory":
		if op.Attrs == nil {
			op.Attrs = map[string]string{}
		}
		op.Attrs["autoselect"] = "true"
		if *v == "mandatory" {
			op.Mandatory = true
		}
	default: // "none", "false", "" (the decoders reject anything else)
		delete(op.Attrs, "autoselect")
	}
}

func validKind(k string) bool {
	switch events.OpKind(k) {
	case events.OpITSM, events.OpSecureChange, events.OpEmail:
		return true
	}
	return false
}

func normGroup(g string) string {
	if g == noGroup {
		return ""
	}
	return g
}

// stampOperations gives every operation the plan's trigger id, ticket and event.
func stampOperations(p *events.Plan) {
	for i := range p.Operations {
		op := &p.Operations[i]
		op.TriggerID, op.Ticket, op.Event = p.TriggerID, p.Ticket, p.Event
	}
}

// clonePlan copies the parts of a plan a rewrite changes: Info and the operations.
func clonePlan(p events.Plan) events.Plan {
	p.Info = append([]string(nil), p.Info...)
	ops := make([]events.Operation, len(p.Operations))
	for i, op := range p.Operations {
		op.Attrs = maps.Clone(op.Attrs)
		if op.Spec != nil {
			op.Spec = append(json.RawMessage(nil), op.Spec...)
		}
		ops[i] = op
	}
	if p.Operations != nil {
		p.Operations = ops
	}
	return p
}

func operationsEqual(a, b []events.Operation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Kind != y.Kind || x.Target != y.Target || x.Route != y.Route ||
			x.Action != y.Action || x.TriggerID != y.TriggerID || x.Ticket != y.Ticket ||
			x.Event != y.Event || x.Mandatory != y.Mandatory || x.Group != y.Group ||
			!specEqual(x.Spec, y.Spec) || !maps.Equal(x.Attrs, y.Attrs) {
			return false
		}
	}
	return true
}

// specEqual compares two specs as JSON values: white space, the order of an object's
// members and how a string is escaped ("<" or "\u003c") do not count. A plugin that
// echoes a spec through its own JSON library returns it unchanged, and rerun "auto"
// does not run it again for that (RFC 8785 canonical form, jsontext.Value.Canonicalize).
func specEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	ca, cb := jsontext.Value(bytes.Clone(a)), jsontext.Value(bytes.Clone(b))
	if ca.Canonicalize() != nil || cb.Canonicalize() != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca, cb)
}
