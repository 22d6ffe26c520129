package events

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Ticket is a SecureChange ticket as returned by
// GET /securechangeworkflow/api/securechange/tickets/{id}.json, decoded by
// DecodeTicket. Ids are decimal strings whether SecureChange sent them as
// numbers or as strings; a missing id is "".
type Ticket struct {
	ID          string
	Subject     string
	Requester   string
	RequesterID string
	Priority    string
	Status      string
	Domain      string // "domain_name"
	Workflow    Workflow
	CurrentStep *StepRef  // nil when "current_step" is absent, null, "" or {} (a closed ticket)
	Steps       []Step    // in order; Steps[len-1] is the latest
	Comments    []Comment // in order
	// Raw is the ticket object exactly as received (the value of "ticket"
	// when the input was wrapped), a copy that does not alias the input.
	Raw json.RawMessage
}

// Workflow is the ticket's "workflow".
type Workflow struct {
	ID   string
	Name string
}

// StepRef is the ticket's "current_step".
type StepRef struct {
	ID   string
	Name string
}

// Step is one element of "steps.step".
type Step struct {
	ID      string
	Name    string
	Redone  bool
	Skipped bool
	Tasks   []Task // "tasks.task": several when the step has parallel handlers
}

// Task is one element of a step's "tasks.task".
type Task struct {
	ID         string
	Name       string
	Status     string
	AssigneeID string
	Assignee   string
	Fields     []Field
}

// Comment is one element of the ticket's "comments.comment".
type Comment struct {
	Content  string
	Created  string
	TaskName string // "task_name"
	Type     string
	User     string
}

// Field is one element of a task's "fields.field". Which of the value
// members is set depends on Type (the field's "@xsi.type"):
//
//	text_field, text_area, hyperlink, date, time, manager  Text ("text")
//	drop_down_list       Selection ("selection"), Options ("options.option[].value")
//	multiple_selection   Options, Selected ("selected_options.selected_option[].value")
//	checkbox             Checked ("value")
//	approve_reject       Approved ("approved"), Reason ("reason")
//
// Any other type (multi_access_request, multi_group_change, ...) is only
// available as Raw; its "text", if it is a JSON string, is copied to Text as
// a convenience and never causes an error.
type Field struct {
	ID       string
	Name     string
	Type     string
	Text     string
	Options  []string
	Selected []string
	// Selection is the drop_down_list's selected option.
	Selection string
	Approved  *bool // nil when "approved" is absent, null or ""
	Reason    string
	Checked   *bool // nil when "value" is absent, null or ""
	// Raw is the whole field object exactly as received (a copy): the
	// value of complex fields, and what to send back, modified, in
	// {"fields": {"field": [...]}} on PUT .../tasks/{task}/fields/.
	Raw json.RawMessage
}

// ErrBadTicketJSON is wrapped by every error DecodeTicket returns. The
// error's message starts with "ticket JSON: " and names the path of the
// offending value, rooted at the ticket object, e.g.
// "ticket JSON: ticket.steps.step[1].tasks.task.fields.field[0].id: want a
// number or string, got an object". Collections that arrived as a single
// object have no index in the path.
var ErrBadTicketJSON = errors.New("malformed SecureChange ticket JSON")

// ticketJSONError is a DecodeTicket error: ErrBadTicketJSON, the path of the
// offending value ("" for the input as a whole), what is wrong, and the
// encoding/json error behind it, if any.
type ticketJSONError struct {
	path string
	msg  string
	err  error
}

func (e *ticketJSONError) Error() string {
	if e.path == "" {
		return "ticket JSON: " + e.msg
	}
	return "ticket JSON: " + e.path + ": " + e.msg
}

func (e *ticketJSONError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrBadTicketJSON}
	}
	return []error{ErrBadTicketJSON, e.err}
}

// DecodeTicket decodes a SecureChange ticket, either wrapped as the REST API
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
func DecodeTicket(b []byte) (Ticket, error) {
	var whole json.RawMessage
	if err := json.Unmarshal(b, &whole); err != nil {
		msg := "invalid JSON: " + err.Error()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg = "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
		}
		return Ticket{}, &ticketJSONError{msg: msg, err: err}
	}
	d := &jsonDecoder{}
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

// Field returns the first field named name in the tasks of the latest step,
// in task then field order.
func (t Ticket) Field(name string) (Field, bool) {
	if len(t.Steps) == 0 {
		return Field{}, false
	}
	for _, task := range t.Steps[len(t.Steps)-1].Tasks {
		for _, f := range task.Fields {
			if f.Name == name {
				return f, true
			}
		}
	}
	return Field{}, false
}

// Value returns the value of Field(name) as a string: "true" or "false" for
// a checkbox and for an approve_reject's Approved ("" while unset),
// Selection for a drop_down_list, Selected joined by ", " for a
// multiple_selection, and Text otherwise ("" for complex fields: use
// Field(name).Raw). The bool reports whether the field was found.
func (t Ticket) Value(name string) (string, bool) {
	f, ok := t.Field(name)
	if !ok {
		return "", false
	}
	return f.value(), true
}

func (f Field) value() string {
	switch f.Type {
	case "checkbox":
		return boolText(f.Checked)
	case "approve_reject":
		return boolText(f.Approved)
	case "drop_down_list":
		return f.Selection
	case "multiple_selection":
		return strings.Join(f.Selected, ", ")
	}
	return f.Text
}

func boolText(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// StepByName returns the latest step named name. A step that was redone
// appears more than once; the latest occurrence holds its current tasks.
func (t Ticket) StepByName(name string) (Step, bool) {
	for i := len(t.Steps) - 1; i >= 0; i-- {
		if t.Steps[i].Name == name {
			return t.Steps[i], true
		}
	}
	return Step{}, false
}

// PreviousStep returns the step before the latest one, Steps[len-2]: the
// step just completed when SecureChange runs an ADVANCE trigger.
func (t Ticket) PreviousStep() (Step, bool) {
	if len(t.Steps) < 2 {
		return Step{}, false
	}
	return t.Steps[len(t.Steps)-2], true
}

// oneOrMany returns the elements of a collection child as SecureChange's
// XML-to-JSON mapping writes it: absent (nil), null, "", {} and [] are none,
// an array is its elements, and anything else (normally an object) is one
// element. The elements are not checked; the error is for invalid JSON.
func oneOrMany(raw json.RawMessage) ([]json.RawMessage, error) {
	if isEmptyJSON(raw) {
		return nil, nil
	}
	if jsonFirst(raw) != '[' {
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

// jsonFirst returns the first byte of raw after JSON white space, 0 if none.
func jsonFirst(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// isEmptyJSON reports whether raw is absent, null, "" or {}.
func isEmptyJSON(raw []byte) bool {
	raw = trimJSONSpace(raw)
	switch string(raw) {
	case "", "null", `""`:
		return true
	}
	return raw[0] == '{' && jsonFirst(raw[1:]) == '}'
}

func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(raw []byte) string {
	switch jsonFirst(raw) {
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

// jsonDecoder walks a ticket already known to be valid JSON and keeps the
// first error; after it, every method returns zero values.
type jsonDecoder struct {
	err error
}

func (d *jsonDecoder) fail(path, msg string) {
	if d.err == nil {
		d.err = &ticketJSONError{path: path, msg: msg}
	}
}

// jsonObject is a decoded JSON object and its path. Reading a key of the
// zero jsonObject (or of one whose decoding failed) finds nothing.
type jsonObject struct {
	d    *jsonDecoder
	m    map[string]json.RawMessage
	path string
}

// object decodes raw, which must be a JSON object.
func (d *jsonDecoder) object(raw json.RawMessage, path string) jsonObject {
	o := jsonObject{d: d, path: path}
	if d.err != nil {
		return o
	}
	if jsonFirst(raw) != '{' {
		d.fail(path, "want an object, got "+jsonKind(raw))
		return o
	}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		d.err = &ticketJSONError{path: path, msg: err.Error(), err: err}
	}
	return o
}

func (o jsonObject) keyPath(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// str reads a string-valued member; see text.
func (o jsonObject) str(key string) string { return o.d.text(o.m[key], o.keyPath(key)) }

// id reads an id member; see id.
func (o jsonObject) id(key string) string { return o.d.id(o.m[key], o.keyPath(key)) }

// flag reads a boolean member; see flag.
func (o jsonObject) flag(key string) *bool { return o.d.flag(o.m[key], o.keyPath(key)) }

// text reads a string: a string, or a number or boolean as its literal
// text; absent or null is "".
func (d *jsonDecoder) text(raw json.RawMessage, path string) string {
	switch jsonFirst(raw) {
	case 0, 'n':
		return ""
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			d.fail(path, err.Error())
		}
		return s
	case '{', '[':
		d.fail(path, "want a string, got "+jsonKind(raw))
		return ""
	}
	return string(trimJSONSpace(raw))
}

// id reads an id: a number or a string of decimal digits; absent, null or
// "" is "".
func (d *jsonDecoder) id(raw json.RawMessage, path string) string {
	switch c := jsonFirst(raw); {
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
		s := trimJSONSpace(raw)
		if !isDigits(s) {
			d.fail(path, "want a decimal id, got "+truncate(s, 40))
			return ""
		}
		return string(s)
	}
	d.fail(path, "want a number or string, got "+jsonKind(raw))
	return ""
}

// flag reads a boolean: true, false, "true" or "false"; absent, null or ""
// is nil.
func (d *jsonDecoder) flag(raw json.RawMessage, path string) *bool {
	var b bool
	switch string(trimJSONSpace(raw)) {
	case "", "null", `""`:
		return nil
	case "true", `"true"`:
		b = true
	case "false", `"false"`:
		b = false
	default:
		d.fail(path, "want a boolean, got "+jsonKind(raw))
		return nil
	}
	return &b
}

func (o jsonObject) boolean(key string) bool {
	b := o.flag(key)
	return b != nil && *b
}

// child reads an optional nested object; ok is false when it is absent,
// null, "" or {}.
func (o jsonObject) child(key string) (jsonObject, bool) {
	raw := o.m[key]
	if o.d.err != nil || isEmptyJSON(raw) {
		return jsonObject{d: o.d}, false
	}
	c := o.d.object(raw, o.keyPath(key))
	return c, o.d.err == nil
}

// jsonElem is one element of a collection and its path.
type jsonElem struct {
	raw  json.RawMessage
	path string
}

// collection reads the collection o[wrapper][child], e.g. "steps" then
// "step". The wrapper must be an object unless it is empty; see oneOrMany.
// An element's path has an index only if the collection was an array.
func (o jsonObject) collection(wrapper, child string) []jsonElem {
	w, ok := o.child(wrapper)
	if !ok {
		return nil
	}
	raw := w.m[child]
	path := w.keyPath(child)
	items, err := oneOrMany(raw)
	if err != nil {
		o.d.fail(path, err.Error())
		return nil
	}
	elems := make([]jsonElem, len(items))
	array := jsonFirst(raw) == '['
	for i, it := range items {
		elems[i] = jsonElem{raw: it, path: path}
		if array {
			elems[i].path = path + "[" + strconv.Itoa(i) + "]"
		}
	}
	return elems
}

// values reads a collection of options: objects with a "value", or bare
// strings or numbers.
func (o jsonObject) values(wrapper, child string) []string {
	var out []string
	for _, e := range o.collection(wrapper, child) {
		switch c := jsonFirst(e.raw); {
		case c == '{':
			out = append(out, o.d.object(e.raw, e.path).str("value"))
		case c == '"' || c == '-' || (c >= '0' && c <= '9'):
			out = append(out, o.d.text(e.raw, e.path))
		default:
			o.d.fail(e.path, "want an object or string, got "+jsonKind(e.raw))
		}
	}
	return out
}

func (d *jsonDecoder) ticket(raw json.RawMessage) Ticket {
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

func (d *jsonDecoder) step(e jsonElem) Step {
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

func (d *jsonDecoder) field(e jsonElem) Field {
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
		if raw := o.m["text"]; jsonFirst(raw) == '"' {
			_ = json.Unmarshal(raw, &f.Text) // valid JSON: cannot fail
		}
	}
	return f
}
