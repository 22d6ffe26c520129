package events

// This file is a frozen copy of DecodeTicket as it was before it was
// rewritten for speed (a json.Unmarshal into a map at every level). It is
// the oracle of FuzzDecodeTicketMatchesReference and the baseline of
// BenchmarkDecodeTicketReference. Do not change it.

import (
	"encoding/json"
	"errors"
	"strconv"
)

// refTicketJSONError is a refDecodeTicket error: ErrBadTicketJSON, the path of the
// offending value ("" for the input as a whole), what is wrong, and the
// encoding/json error behind it, if any.
type refTicketJSONError struct {
	path string
	msg  string
	err  error
}

func (e *refTicketJSONError) Error() string {
	if e.path == "" {
		return "ticket JSON: " + e.msg
	}
	return "ticket JSON: " + e.path + ": " + e.msg
}

func (e *refTicketJSONError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrBadTicketJSON}
	}
	return []error{ErrBadTicketJSON, e.err}
}

// refDecodeTicket decodes a SecureChange ticket, either wrapped as the REST API
// returns it, {"ticket": {...}}, or bare, {...}. The input is wrapped when
// its top-level object has a "ticket" key.
//
// It copes with SecureChange's XML-to-JSON mapping: a collection
// ("steps.step", "tasks.task", "fields.field", "comments.comment",
// "options.option", "selected_options.selected_option") may be a single
// object or an array, and an empty one may be absent, null, "" or {}. Ids
// may be JSON numbers or strings but must be decimal digits; string-valued
// members also accept numbers and booleans (as their literal text); booleans
// also accept "true" and "false". Unknown keys are ignored. The ticket must
// have an id of 1 to 19 digits, which also rejects SecureChange's
// {"result": {...}} error bodies.
//
// Errors wrap ErrBadTicketJSON and name the path of the offending value.
func refDecodeTicket(b []byte) (Ticket, error) {
	var whole json.RawMessage
	if err := json.Unmarshal(b, &whole); err != nil {
		msg := "invalid JSON: " + err.Error()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg = "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
		}
		return Ticket{}, &refTicketJSONError{msg: msg, err: err}
	}
	d := &refJSONDecoder{}
	root := d.object(whole, "")
	raw := whole
	if inner, ok := root.m["ticket"]; ok {
		raw = inner
	}
	t := d.ticket(raw)
	if d.err != nil {
		return Ticket{}, d.err
	}
	return t, nil
}

// refOneOrMany returns the elements of a collection child as SecureChange's
// XML-to-JSON mapping writes it: absent (nil), null, "", {} and [] are none,
// an array is its elements, and anything else (normally an object) is one
// element. The elements are not checked; the error is for invalid JSON.
func refOneOrMany(raw json.RawMessage) ([]json.RawMessage, error) {
	if refIsEmptyJSON(raw) {
		return nil, nil
	}
	if refJSONFirst(raw) != '[' {
		if !json.Valid(raw) {
			var v json.RawMessage
			return nil, json.Unmarshal(raw, &v)
		}
		return []json.RawMessage{raw}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, nil
	}
	return items, nil
}

// refJSONFirst returns the first byte of raw after JSON white space, 0 if none.
func refJSONFirst(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// refIsEmptyJSON reports whether raw is absent, null, "" or {}.
func refIsEmptyJSON(raw []byte) bool {
	raw = refTrimJSONSpace(raw)
	switch string(raw) {
	case "", "null", `""`:
		return true
	}
	return raw[0] == '{' && refJSONFirst(raw[1:]) == '}'
}

func refTrimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// refJSONKind names the kind of a JSON value for error messages.
func refJSONKind(raw []byte) string {
	switch refJSONFirst(raw) {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	}
	return "a number"
}

// refJSONDecoder walks a ticket already known to be valid JSON and keeps the
// first error; after it, every method returns zero values.
type refJSONDecoder struct {
	err error
}

func (d *refJSONDecoder) fail(path, msg string) {
	if d.err == nil {
		d.err = &refTicketJSONError{path: path, msg: msg}
	}
}

// refJSONObject is a decoded JSON object and its path. Reading a key of the
// zero refJSONObject (or of one whose decoding failed) finds nothing.
type refJSONObject struct {
	d    *refJSONDecoder
	m    map[string]json.RawMessage
	path string
}

// object decodes raw, which must be a JSON object.
func (d *refJSONDecoder) object(raw json.RawMessage, path string) refJSONObject {
	o := refJSONObject{d: d, path: path}
	if d.err != nil {
		return o
	}
	if refJSONFirst(raw) != '{' {
		d.fail(path, "want an object, got "+refJSONKind(raw))
		return o
	}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		d.err = &refTicketJSONError{path: path, msg: err.Error(), err: err}
	}
	return o
}

func (o refJSONObject) keyPath(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// str reads a string-valued member; see text.
func (o refJSONObject) str(key string) string { return o.d.text(o.m[key], o.keyPath(key)) }

// id reads an id member; see id.
func (o refJSONObject) id(key string) string { return o.d.id(o.m[key], o.keyPath(key)) }

// flag reads a boolean member; see flag.
func (o refJSONObject) flag(key string) *bool { return o.d.flag(o.m[key], o.keyPath(key)) }

// text reads a string: a string, or a number or boolean as its literal
// text; absent or null is "".
func (d *refJSONDecoder) text(raw json.RawMessage, path string) string {
	switch refJSONFirst(raw) {
	case 0, 'n':
		return ""
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			d.fail(path, err.Error())
		}
		return s
	case '{', '[':
		d.fail(path, "want a string, got "+refJSONKind(raw))
		return ""
	}
	return string(refTrimJSONSpace(raw))
}

// id reads an id: a number or a string of decimal digits; absent, null or
// "" is "".
func (d *refJSONDecoder) id(raw json.RawMessage, path string) string {
	switch c := refJSONFirst(raw); {
	case c == 0 || c == 'n':
		return ""
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			d.fail(path, err.Error())
			return ""
		}
		if s != "" && !isDigits(s) {
			d.fail(path, "want a decimal id, got "+strconv.Quote(truncate([]byte(s), 40)))
			return ""
		}
		return s
	case c == '-' || (c >= '0' && c <= '9'):
		s := refTrimJSONSpace(raw)
		if !isDigits(s) {
			d.fail(path, "want a decimal id, got "+truncate(s, 40))
			return ""
		}
		return string(s)
	}
	d.fail(path, "want a number or string, got "+refJSONKind(raw))
	return ""
}

// flag reads a boolean: true, false, "true" or "false"; absent, null or ""
// is nil.
func (d *refJSONDecoder) flag(raw json.RawMessage, path string) *bool {
	var b bool
	switch string(refTrimJSONSpace(raw)) {
	case "", "null", `""`:
		return nil
	case "true", `"true"`:
		b = true
	case "false", `"false"`:
		b = false
	default:
		d.fail(path, "want a boolean, got "+refJSONKind(raw))
		return nil
	}
	return &b
}

func (o refJSONObject) boolean(key string) bool {
	b := o.flag(key)
	return b != nil && *b
}

// child reads an optional nested object; ok is false when it is absent,
// null, "" or {}.
func (o refJSONObject) child(key string) (refJSONObject, bool) {
	raw := o.m[key]
	if o.d.err != nil || refIsEmptyJSON(raw) {
		return refJSONObject{d: o.d}, false
	}
	c := o.d.object(raw, o.keyPath(key))
	return c, o.d.err == nil
}

// refJSONElem is one element of a collection and its path.
type refJSONElem struct {
	raw  json.RawMessage
	path string
}

// collection reads the collection o[wrapper][child], e.g. "steps" then
// "step". The wrapper must be an object unless it is empty; see refOneOrMany.
// An element's path has an index only if the collection was an array.
func (o refJSONObject) collection(wrapper, child string) []refJSONElem {
	w, ok := o.child(wrapper)
	if !ok {
		return nil
	}
	raw := w.m[child]
	path := w.keyPath(child)
	items, err := refOneOrMany(raw)
	if err != nil {
		o.d.fail(path, err.Error())
		return nil
	}
	elems := make([]refJSONElem, len(items))
	array := refJSONFirst(raw) == '['
	for i, it := range items {
		elems[i] = refJSONElem{raw: it, path: path}
		if array {
			elems[i].path = path + "[" + strconv.Itoa(i) + "]"
		}
	}
	return elems
}

// values reads a collection of options: objects with a "value", or bare
// strings or numbers.
func (o refJSONObject) values(wrapper, child string) []string {
	var out []string
	for _, e := range o.collection(wrapper, child) {
		switch c := refJSONFirst(e.raw); {
		case c == '{':
			out = append(out, o.d.object(e.raw, e.path).str("value"))
		case c == '"' || c == '-' || (c >= '0' && c <= '9'):
			out = append(out, o.d.text(e.raw, e.path))
		default:
			o.d.fail(e.path, "want an object or string, got "+refJSONKind(e.raw))
		}
	}
	return out
}

func (d *refJSONDecoder) ticket(raw json.RawMessage) Ticket {
	o := d.object(raw, "ticket")
	t := Ticket{
		ID:          o.id("id"),
		Subject:     o.str("subject"),
		Requester:   o.str("requester"),
		RequesterID: o.id("requester_id"),
		Priority:    o.str("priority"),
		Status:      o.str("status"),
		Domain:      o.str("domain_name"),
		Raw:         raw,
	}
	if d.err == nil && !isTicketNumber([]byte(t.ID)) {
		if t.ID == "" {
			d.fail("ticket.id", "missing")
		} else {
			d.fail("ticket.id", "want 1 to 19 digits, got "+strconv.Quote(truncate([]byte(t.ID), 40)))
		}
	}
	if w, ok := o.child("workflow"); ok {
		t.Workflow = Workflow{ID: w.id("id"), Name: w.str("name")}
	}
	if c, ok := o.child("current_step"); ok {
		t.CurrentStep = &StepRef{ID: c.id("id"), Name: c.str("name")}
	}
	for _, e := range o.collection("steps", "step") {
		t.Steps = append(t.Steps, d.step(e))
	}
	for _, e := range o.collection("comments", "comment") {
		c := d.object(e.raw, e.path)
		t.Comments = append(t.Comments, Comment{
			Content:  c.str("content"),
			Created:  c.str("created"),
			TaskName: c.str("task_name"),
			Type:     c.str("type"),
			User:     c.str("user"),
		})
	}
	return t
}

func (d *refJSONDecoder) step(e refJSONElem) Step {
	o := d.object(e.raw, e.path)
	s := Step{
		ID:      o.id("id"),
		Name:    o.str("name"),
		Redone:  o.boolean("redone"),
		Skipped: o.boolean("skipped"),
	}
	for _, e := range o.collection("tasks", "task") {
		t := d.object(e.raw, e.path)
		task := Task{
			ID:         t.id("id"),
			Name:       t.str("name"),
			Status:     t.str("status"),
			AssigneeID: t.id("assignee_id"),
			Assignee:   t.str("assignee"),
		}
		for _, e := range t.collection("fields", "field") {
			task.Fields = append(task.Fields, d.field(e))
		}
		s.Tasks = append(s.Tasks, task)
	}
	return s
}

func (d *refJSONDecoder) field(e refJSONElem) Field {
	o := d.object(e.raw, e.path)
	f := Field{
		ID:   o.id("id"),
		Name: o.str("name"),
		Type: o.str("@xsi.type"),
		Raw:  e.raw,
	}
	switch f.Type {
	case "text_field", "text_area", "hyperlink", "date", "time", "manager":
		f.Text = o.str("text")
	case "drop_down_list":
		f.Selection = o.str("selection")
		f.Options = o.values("options", "option")
	case "multiple_selection":
		f.Options = o.values("options", "option")
		f.Selected = o.values("selected_options", "selected_option")
	case "checkbox":
		f.Checked = o.flag("value")
	case "approve_reject":
		f.Approved = o.flag("approved")
		f.Reason = o.str("reason")
	default:
		if raw := o.m["text"]; refJSONFirst(raw) == '"' {
			_ = json.Unmarshal(raw, &f.Text) // valid JSON: cannot fail
		}
	}
	return f
}
