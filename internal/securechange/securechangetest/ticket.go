package securechangetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// ticket is a stored ticket as generic JSON (numbers as json.Number), so that keys the
// simulator does not know survive.
type ticket struct {
	// obj is the ticket object; its "steps" is rebuilt from steps when rendering.
	obj map[string]any
	// steps are the steps reached so far, in order; the current one is among them.
	steps []map[string]any
	// stepsArray: "steps.step" arrived as an array (kept so while it has one element).
	stepsArray bool
	// pending are the steps listed after the current one when stored: still to come.
	pending []map[string]any
	// workflow is the step names in order, for advancing after a redo.
	workflow []string
	// nextID numbers new step, task and field instances.
	nextID int64
}

func newTicket(raw json.RawMessage) (*ticket, error) {
	if _, err := securechange.DecodeTicket(raw); err != nil {
		return nil, err
	}
	var top map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&top); err != nil {
		return nil, err
	}
	obj := top
	if inner, ok := top["ticket"].(map[string]any); ok {
		obj = inner
	}
	tk := &ticket{obj: obj}
	if sw, ok := obj["steps"].(map[string]any); ok {
		_, tk.stepsArray = sw["step"].([]any)
	}
	all := elems(obj, "steps", "step")
	tk.steps = all
	if i := tk.currentIndex(); i >= 0 {
		tk.steps, tk.pending = all[:i+1], all[i+1:]
	}
	for _, st := range all {
		if n := str(st, "name"); !slices.Contains(tk.workflow, n) {
			tk.workflow = append(tk.workflow, n)
		}
	}
	tk.nextID = maxID(obj["steps"]) + 1
	if tk.nextID < 1000 {
		tk.nextID = 1000
	}
	return tk, nil
}

func (tk *ticket) id() string { return idOf(tk.obj) }

// render is the GET body: {"ticket":{…}} with the reached steps only.
func (tk *ticket) render() json.RawMessage {
	out := make(map[string]any, len(tk.obj))
	for k, v := range tk.obj {
		out[k] = v
	}
	if len(tk.steps) > 0 {
		out["steps"] = map[string]any{"step": collection(tk.steps, tk.stepsArray)}
	}
	b, err := json.Marshal(map[string]any{"ticket": out})
	if err != nil { // decoded JSON re-encoded: cannot happen
		panic(err)
	}
	return b
}

// currentIndex is the index in steps of current_step (the latest step with its id,
// else name), -1 for a closed ticket.
func (tk *ticket) currentIndex() int {
	cur, ok := tk.obj["current_step"].(map[string]any)
	if !ok || len(cur) == 0 || len(tk.steps) == 0 {
		return -1
	}
	id, name := idOf(cur), str(cur, "name")
	for i := len(tk.steps) - 1; i >= 0; i-- {
		if (id != "" && idOf(tk.steps[i]) == id) || (id == "" && str(tk.steps[i], "name") == name) {
			return i
		}
	}
	return len(tk.steps) - 1
}

func (tk *ticket) current() (map[string]any, bool) {
	i := tk.currentIndex()
	if i < 0 {
		return nil, false
	}
	return tk.steps[i], true
}

// advance leaves the current step for the next one of the workflow, or closes the
// ticket after the last.
func (tk *ticket) advance() {
	cur, _ := tk.current()
	i := slices.Index(tk.workflow, str(cur, "name"))
	if i < 0 || i+1 >= len(tk.workflow) {
		delete(tk.obj, "current_step")
		tk.obj["status"] = StatusClosed
		tk.pending = nil
		return
	}
	next := tk.workflow[i+1]
	if len(tk.pending) > 0 && str(tk.pending[0], "name") == next {
		st := tk.pending[0]
		tk.pending = tk.pending[1:]
		tk.enter(st)
		return
	}
	tk.enter(tk.instance(next))
}

// enter appends step and makes it current.
func (tk *ticket) enter(step map[string]any) {
	tk.steps = append(tk.steps, step)
	tk.obj["current_step"] = map[string]any{"id": step["id"], "name": step["name"]}
	if s, ok := tk.obj["status"].(string); !ok || s == "" || !isOpenStatus(s) {
		tk.obj["status"] = StatusInProgress
	}
}

// instance is a new instance of the step named name: a copy of its latest instance
// (or of the pending one) with new ids, not redone, its tasks ASSIGNED.
func (tk *ticket) instance(name string) map[string]any {
	var from map[string]any
	for i := len(tk.steps) - 1; i >= 0 && from == nil; i-- {
		if str(tk.steps[i], "name") == name {
			from = tk.steps[i]
		}
	}
	for _, p := range tk.pending {
		if from == nil && str(p, "name") == name {
			from = p
		}
	}
	st := deepCopy(from)
	st["id"] = tk.newID()
	st["redone"], st["skipped"] = false, false
	for _, task := range elems(st, "tasks", "task") {
		task["id"] = tk.newID()
		task["status"] = "ASSIGNED"
		for _, f := range elems(task, "fields", "field") {
			f["id"] = tk.newID()
		}
	}
	return st
}

func (tk *ticket) newID() json.Number {
	n := tk.nextID
	tk.nextID++
	return json.Number(strconv.FormatInt(n, 10))
}

// comment appends a comment to the ticket's "comments" and returns it.
func (tk *ticket) comment(content, kind, taskName, user string) map[string]any {
	c := map[string]any{
		"@xsi.type": "comment", "content": content, "created": time.Now().UTC().Format(time.RFC3339),
		"task_name": taskName, "type": kind, "user": user,
	}
	cs := append(elems(tk.obj, "comments", "comment"), c)
	tk.obj["comments"] = map[string]any{"comment": collection(cs, false)}
	return c
}

// updateFields applies fields (objects with an "id") to the task's fields, after
// checking them all.
func updateFields(task map[string]any, fields []map[string]any) *apiError {
	stored := elems(task, "fields", "field")
	byID := map[string]map[string]any{}
	for _, f := range stored {
		byID[idOf(f)] = f
	}
	type change struct{ to, from map[string]any }
	var changes []change
	for _, in := range fields {
		id := idOf(in)
		f, ok := byID[id]
		if !ok {
			return badRequest("Field with ID %q does not exist in task %s", id, idOf(task))
		}
		if e := checkField(f, in); e != nil {
			return e
		}
		changes = append(changes, change{f, in})
	}
	for _, c := range changes {
		for k, v := range c.from {
			switch k {
			case "id", "@xsi.type", "name":
				continue
			}
			c.to[k] = v
		}
	}
	return nil
}

// checkField checks a field update against the stored field as SecureChange would.
func checkField(f, in map[string]any) *apiError {
	typ, name := str(f, "@xsi.type"), str(f, "name")
	if t, ok := in["@xsi.type"]; ok && t != typ {
		return badRequest("Field %q is of type %s, not %v", name, typ, t)
	}
	options := values(f, "options", "option")
	isOption := func(v string) *apiError {
		if !slices.Contains(options, v) {
			return badRequest("Value %q is not an option of field %q (options: %s)", v, name, strings.Join(options, ", "))
		}
		return nil
	}
	if e := checkSDKShape(f, in); e != nil {
		return e
	}
	switch typ {
	case "drop_down_list":
		if v, ok := in["selection"]; ok {
			s, isStr := v.(string)
			if !isStr {
				return badRequest("Field %q: selection must be a string", name)
			}
			if e := isOption(s); e != nil {
				return e
			}
		}
	case "multiple_selection":
		if _, ok := in["selected_options"]; ok {
			for _, v := range values(in, "selected_options", "selected_option") {
				if e := isOption(v); e != nil {
					return e
				}
			}
		}
	case "checkbox":
		if v, ok := in["value"]; ok && !isBool(v) {
			return badRequest("Field %q: value must be true or false", name)
		}
	case "approve_reject":
		if v, ok := in["approved"]; ok && !isBool(v) {
			return badRequest("Field %q: approved must be true or false", name)
		}
	case "text_field", "text_area", "manager":
		if v, ok := in["text"]; ok {
			if _, isStr := v.(string); !isStr && v != nil {
				return badRequest("Field %q: text must be a string", name)
			}
		}
	}
	return nil
}

func isBool(v any) bool {
	switch v := v.(type) {
	case bool:
		return true
	case string:
		return v == "true" || v == "false"
	}
	return false
}

// elems is the collection m[wrapper][child]: one object or an array of them; absent,
// null, "" or {} is none.
func elems(m map[string]any, wrapper, child string) []map[string]any {
	w, ok := m[wrapper].(map[string]any)
	if !ok {
		return nil
	}
	switch v := w[child].(type) {
	case map[string]any:
		if len(v) == 0 {
			return nil
		}
		return []map[string]any{v}
	case []any:
		var out []map[string]any
		for _, e := range v {
			if o, ok := e.(map[string]any); ok {
				out = append(out, o)
			}
		}
		return out
	}
	return nil
}

// values reads options: objects with a "value", or bare strings.
func values(m map[string]any, wrapper, child string) []string {
	w, ok := m[wrapper].(map[string]any)
	if !ok {
		return nil
	}
	var items []any
	switch v := w[child].(type) {
	case []any:
		items = v
	case nil:
	default:
		items = []any{v}
	}
	var out []string
	for _, it := range items {
		switch it := it.(type) {
		case map[string]any:
			out = append(out, str(it, "value"))
		case string:
			out = append(out, it)
		}
	}
	return out
}

// collection writes elements the SecureChange way: one as an object (unless array),
// several as an array.
func collection(items []map[string]any, array bool) any {
	if len(items) == 1 && !array {
		return items[0]
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

// str reads a string member (numbers and booleans as their text).
func str(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func idOf(m map[string]any) string { return str(m, "id") }

// maxID is the largest numeric "id" anywhere in v.
func maxID(v any) int64 {
	var best int64
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if k == "id" {
				if n, err := strconv.ParseInt(str(v, "id"), 10, 64); err == nil && n > best {
					best = n
				}
			}
			best = max(best, maxID(c))
		}
	case []any:
		for _, c := range v {
			best = max(best, maxID(c))
		}
	}
	return best
}

func deepCopy(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		panic(err)
	}
	return out
}

// Fixture is an "Access Request" ticket with the given id as SecureChange returns it,
// modelled on real ticket JSON (single-element collections as objects): steps
// "Submit Request" (DONE), "Business Approval" (current; one task with an
// approve_reject "Approve Access", a text_field "ITSM Change", a drop_down_list "Risk"
// with options Low/Medium/High, a checkbox "Emergency" and a multiple_selection
// "Regions" with options EU/US/APAC) and "Implementation" (still to come: see Put).
// Step ids are 1, 2 and 3, task ids 11, 21 and 31; field ids are the task's id
// followed by a digit.
func Fixture(id string) json.RawMessage {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		panic(fmt.Sprintf("securechangetest.Fixture(%q): the id must be digits", id))
	}
	return json.RawMessage(strings.ReplaceAll(fixture, "$ID", id))
}

const fixture = `{"ticket": {
  "id": $ID, "subject": "Allow web tier to reach the orders database", "requester": "a.jones", "requester_id": 42,
  "priority": "Normal", "status": "In Progress", "domain_name": "Default",
  "sla_status": "NA", "sla_outcome": "NA", "expiration_field_name": "Expiration", "expiration_date": "2026-12-31",
  "workflow": {"id": 7, "name": "Access Request", "uses_topology": true},
  "current_step": {"id": 2, "name": "Business Approval"},
  "application_details": {"id": 0},
  "comments": {"comment": {"@xsi.type": "comment", "content": "needed for the orders release", "created": "2025-11-23T08:01:00Z", "task_name": "Submit Request", "type": "normal", "user": "a.jones"}},
  "steps": {"step": [
    {"id": 1, "name": "Submit Request", "redone": false, "skipped": false,
     "tasks": {"task": {"id": 11, "assignee_id": 42, "assignee": "a.jones", "status": "DONE",
       "fields": {"field": [
         {"@xsi.type": "multi_access_request", "id": 111, "name": "Access Request", "access_request": {"id": 5, "order": "AR1", "verifier_result": {"status": "not run"}, "use_topology": true, "targets": {"target": {"@type": "ANY", "id": 7}}, "users": {"user": ["Any"]}, "sources": {"source": {"@type": "IP", "id": 8, "ip_address": "10.0.0.1", "netmask": "255.255.255.255"}}, "destinations": {"destination": {"@type": "IP", "id": 9, "ip_address": "10.0.1.1", "netmask": "255.255.255.255"}}, "services": {"service": {"@type": "PROTOCOL", "id": 10, "protocol": "TCP", "port": 5432}}, "action": "Accept", "labels": ""}},
         {"@xsi.type": "text_area", "id": 112, "name": "Business Justification", "text": "orders release 4.2"}]}}}},
    {"id": 2, "name": "Business Approval", "redone": false, "skipped": false,
     "tasks": {"task": {"id": 21, "name": "Business Approval", "assignee_id": 50, "assignee": "b.owner", "status": "ASSIGNED",
       "fields": {"field": [
         {"@xsi.type": "approve_reject", "id": 211, "name": "Approve Access", "reason": ""},
         {"@xsi.type": "text_field", "id": 212, "name": "ITSM Change", "text": ""},
         {"@xsi.type": "drop_down_list", "id": 213, "name": "Risk", "options": {"option": [{"value": "Low"}, {"value": "Medium"}, {"value": "High"}]}},
         {"@xsi.type": "checkbox", "id": 214, "name": "Emergency", "value": false},
         {"@xsi.type": "multiple_selection", "id": 215, "name": "Regions", "options": {"option": [{"value": "EU"}, {"value": "US"}, {"value": "APAC"}]}, "selected_options": {"selected_option": {"value": "EU"}}}]}}}},
    {"id": 3, "name": "Implementation", "redone": false, "skipped": false,
     "tasks": {"task": {"id": 31, "name": "Implement", "assignee_id": 60, "assignee": "n.eng", "status": "ASSIGNED",
       "fields": {"field": {"@xsi.type": "text_area", "id": 311, "name": "Implementation Notes", "text": ""}}}}}]}
}}`
