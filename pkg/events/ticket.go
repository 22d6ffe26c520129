package events

import (
	"encoding/json"
	"errors"
	"log/slog"
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
//
// Comments are decoded leniently: no route, template or write-back depends on
// their shape, so a member of an unexpected shape is never an error. "user"
// may be a string (User) or, as pytos2 models it (Comment.users: List[str]
// under key "user"), an array of strings (Users, and User their join with
// ", "); any other shape is kept in UserRaw. A string member that is an object
// or array is "".
type Comment struct {
	Content  string
	Created  string
	TaskName string // "task_name"
	Type     string
	User     string
	Users    []string        // "user" when it is an array of strings
	UserRaw  json.RawMessage // "user" when it is an object or an array of anything else (a copy)
}

// Field is one element of a task's "fields.field". Which of the value
// members is set depends on Type (the field's "@xsi.type"), per FieldTypes:
//
//	text_field, text_area, manager  Text ("text")
//	date, time           Text ("value": "2025-12-31", "14:30")
//	hyperlink            Text ("url")
//	drop_down_list       Selection ("selection"), Options ("options.option[].value")
//	multiple_selection   Options, Selected ("selected_options.selected_option[].value")
//	checkbox             Checked ("value")
//	approve_reject       Approved ("approved"), Reason ("reason")
//
// Any other type (multi_access_request, multi_group_change, ..., and types
// no SDK models) is only available as Raw; its "text", if it is a JSON
// string, is copied to Text as a convenience and never causes an error.
// ReadOnly is "read_only" (true or "true"; any other value is false).
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
	ReadOnly  bool
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
	// Validate once; after this the decoder walks the bytes with the
	// non-validating scanner of ticket_scan.go.
	if !json.Valid(b) {
		var whole json.RawMessage
		err := json.Unmarshal(b, &whole)
		msg := "invalid JSON: " + err.Error()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg = "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
		}
		return Ticket{}, &ticketJSONError{msg: msg, err: err}
	}
	whole := trimJSONSpace(b)
	if whole[0] != '{' {
		return Ticket{}, &ticketJSONError{msg: "want an object, got " + jsonKind(whole)}
	}
	raw := whole
	if inner, ok := lastJSONMember(whole, "ticket"); ok {
		raw = inner
	}
	d := newJSONDecoder(raw)
	t := d.ticket()
	if d.err != nil {
		return Ticket{}, d.err
	}
	if len(d.lenient) > 0 {
		slog.Debug("ticket JSON: values of an unexpected shape kept raw", "ticket", t.ID, "paths", d.lenient)
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
	return f.Value(), true
}

// FieldRaw returns the JSON of Field(name) as received, "" if there is none:
// the value of a type FieldTypes does not model, for templates
// ({{.Ticket.FieldRaw "Access Request"}}).
func (t Ticket) FieldRaw(name string) string {
	f, _ := t.Field(name)
	return string(f.Raw)
}

// Value is the field's value as text: "true"/"false" for a checkbox and for an
// approve_reject decision ("" while unset), the selection of a drop_down_list, the
// selected options of a multiple_selection joined by ", ", and the text otherwise.
func (f Field) Value() string {
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
// The decoder itself reads collections with jsonDecoder.collection, which
// follows the same rules over JSON already validated.
func oneOrMany(raw json.RawMessage) ([]json.RawMessage, error) {
	if isEmptyJSON(raw) {
		return nil, nil
	}
	if !json.Valid(raw) {
		var v json.RawMessage
		return nil, json.Unmarshal(raw, &v)
	}
	arr := trimJSONSpace(raw)
	if arr[0] != '[' {
		return []json.RawMessage{raw}, nil
	}
	var items []json.RawMessage
	for i := firstJSONItem(arr, 0); i >= 0; {
		end := skipJSONValue(arr, i)
		items = append(items, arr[i:end:end])
		i = nextJSONItem(arr, end)
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
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
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

// jsonDecoder walks a ticket object already known to be valid JSON and
// keeps the first error; after it, every method returns zero values.
//
// Values are spans of buf. Objects are split into members once, into the
// members arena; collections into the elems arena. Paths are nodes of the
// paths arena, turned into strings only for an error.
type jsonDecoder struct {
	err error
	// buf is the ticket object, a copy of the input's: Ticket.Raw.
	buf []byte
	// str is string(buf): the strings that need no unescaping, and
	// numbers, are cut from it without allocating.
	str string
	// fieldBuf is another copy of buf, made for the first field, that
	// Field.Raw values are cut from so they do not alias Ticket.Raw.
	fieldBuf []byte
	members  []jsonMember
	elems    []jsonElem
	paths    []jsonPath
	// lenient are the paths of values of an unexpected shape that were
	// kept raw instead of failing (see Comment), logged once at debug.
	lenient []string
}

// jsonSpan is buf[start:end]; the zero jsonSpan is an absent value.
type jsonSpan struct{ start, end int }

// jsonMember is a member of an object: its key without the quotes, whether
// the key has escapes, and its value.
type jsonMember struct {
	key     jsonSpan
	escaped bool
	val     jsonSpan
}

// jsonElem is one element of a collection and its path.
type jsonElem struct {
	val  jsonSpan
	path int
}

// jsonPath is a node of a value's path: a member key of the parent node
// (index < 0), or an index into it. The root is noPath, whose path is "".
type jsonPath struct {
	parent int
	key    string
	index  int
}

const noPath = -1

func newJSONDecoder(raw []byte) *jsonDecoder {
	buf := make([]byte, len(raw))
	copy(buf, raw)
	// Rough sizes for SecureChange tickets, so that the arenas rarely grow.
	return &jsonDecoder{
		buf:     buf,
		str:     string(buf),
		members: make([]jsonMember, 0, 64),
		elems:   make([]jsonElem, 0, 8+len(raw)/256),
		paths:   make([]jsonPath, 0, 8+len(raw)/64),
	}
}

func (d *jsonDecoder) bytes(v jsonSpan) []byte { return d.buf[v.start:v.end] }

// keyPath returns the path node of member key of the value at parent.
func (d *jsonDecoder) keyPath(parent int, key string) int {
	d.paths = append(d.paths, jsonPath{parent: parent, key: key, index: -1})
	return len(d.paths) - 1
}

// indexPath returns the path node of element i of the array at parent.
func (d *jsonDecoder) indexPath(parent, i int) int {
	d.paths = append(d.paths, jsonPath{parent: parent, index: i})
	return len(d.paths) - 1
}

// pathString returns the path p, key appended to it unless key is "", as
// written in errors: "ticket.steps.step[1].tasks.task".
func (d *jsonDecoder) pathString(p int, key string) string {
	s := ""
	if p != noPath {
		n := d.paths[p]
		if n.index < 0 {
			s = d.pathString(n.parent, n.key)
		} else {
			s = d.pathString(n.parent, "") + "[" + strconv.Itoa(n.index) + "]"
		}
	}
	switch {
	case key == "":
		return s
	case s == "":
		return key
	}
	return s + "." + key
}

// fail records the error msg about the value at path p, or at its member
// key unless key is "".
func (d *jsonDecoder) fail(p int, key, msg string) {
	if d.err == nil {
		d.err = &ticketJSONError{path: d.pathString(p, key), msg: msg}
	}
}

// jsonObject is an object whose members are d.members[lo:hi], and its path.
// Reading a key of an object whose decoding failed finds nothing.
type jsonObject struct {
	d      *jsonDecoder
	lo, hi int
	path   int
}

// object splits the value v, which must be a JSON object, into members.
func (d *jsonDecoder) object(v jsonSpan, path int) jsonObject {
	o := jsonObject{d: d, lo: len(d.members), hi: len(d.members), path: path}
	if d.err != nil {
		return o
	}
	raw := d.bytes(v)
	if jsonFirst(raw) != '{' {
		d.fail(path, "", "want an object, got "+jsonKind(raw))
		return o
	}
	b := d.buf[:v.end]
	for i := firstJSONItem(b, v.start); i >= 0; {
		keyEnd, escaped := skipJSONString(b, i)
		vs := jsonMemberValue(b, keyEnd)
		ve := skipJSONValue(b, vs)
		d.members = append(d.members, jsonMember{
			key:     jsonSpan{i + 1, keyEnd - 1},
			escaped: escaped,
			val:     jsonSpan{vs, ve},
		})
		i = nextJSONItem(b, ve)
	}
	o.hi = len(d.members)
	return o
}

// release drops the members of o, the object parsed last of those not
// released, from the arena: objects are released in the reverse order of
// their parsing, once done with.
func (o jsonObject) release() { o.d.members = o.d.members[:o.lo] }

// get returns the value of the last member named key (as encoding/json
// does with duplicate keys), the zero jsonSpan if there is none.
func (o jsonObject) get(key string) jsonSpan {
	d := o.d
	for i := o.hi - 1; i >= o.lo; i-- {
		m := &d.members[i]
		if m.escaped {
			if jsonKeyIs(d.bytes(m.key), true, key) {
				return m.val
			}
		} else if m.key.end-m.key.start == len(key) && d.str[m.key.start:m.key.end] == key {
			return m.val
		}
	}
	return jsonSpan{}
}

// str reads a string-valued member; see text.
func (o jsonObject) str(key string) string { return o.d.text(o.get(key), o.path, key) }

// id reads an id member; see id.
func (o jsonObject) id(key string) string { return o.d.id(o.get(key), o.path, key) }

// flag reads a boolean member; see flag.
func (o jsonObject) flag(key string) *bool { return o.d.flag(o.get(key), o.path, key) }

// unquote returns the value of the JSON string v.
func (d *jsonDecoder) unquote(v jsonSpan) string {
	s := d.buf[v.start+1 : v.end-1]
	if plainJSONString(s) {
		return d.str[v.start+1 : v.end-1]
	}
	return string(unquoteJSONString(s))
}

// text reads a string at path p (and key; see fail): a string, or a number
// or boolean as its literal text; absent or null is "".
func (d *jsonDecoder) text(v jsonSpan, p int, key string) string {
	raw := d.bytes(v)
	switch jsonFirst(raw) {
	case 0, 'n':
		return ""
	case '"':
		return d.unquote(v)
	case '{', '[':
		d.fail(p, key, "want a string, got "+jsonKind(raw))
		return ""
	}
	return d.str[v.start:v.end]
}

// id reads an id: a number or a string of decimal digits; absent, null or
// "" is "".
func (d *jsonDecoder) id(v jsonSpan, p int, key string) string {
	raw := d.bytes(v)
	switch c := jsonFirst(raw); {
	case c == 0 || c == 'n':
		return ""
	case c == '"':
		s := d.unquote(v)
		if s != "" && !isDigits(s) {
			d.fail(p, key, "want a decimal id, got "+strconv.Quote(truncate([]byte(s), 40)))
			return ""
		}
		return s
	case c == '-' || (c >= '0' && c <= '9'):
		if !isDigits(raw) {
			d.fail(p, key, "want a decimal id, got "+truncate(raw, 40))
			return ""
		}
		return d.str[v.start:v.end]
	}
	d.fail(p, key, "want a number or string, got "+jsonKind(raw))
	return ""
}

// flag reads a boolean: true, false, "true" or "false"; absent, null or ""
// is nil.
func (d *jsonDecoder) flag(v jsonSpan, p int, key string) *bool {
	raw := d.bytes(v)
	var b bool
	switch string(raw) {
	case "", "null", `""`:
		return nil
	case "true", `"true"`:
		b = true
	case "false", `"false"`:
		b = false
	default:
		d.fail(p, key, "want a boolean, got "+jsonKind(raw))
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
	d := o.d
	v := o.get(key)
	if d.err != nil || isEmptyJSON(d.bytes(v)) {
		return jsonObject{d: d, lo: len(d.members), hi: len(d.members), path: noPath}, false
	}
	c := d.object(v, d.keyPath(o.path, key))
	return c, d.err == nil
}

// collection reads the collection o[wrapper][child], e.g. "steps" then
// "step", into d.elems[lo:hi]: none when it is absent, null, "", {} or [],
// the elements of an array, or else the one value. The wrapper must be an
// object unless it is empty. An element's path has an index only if the
// collection was an array.
func (o jsonObject) collection(wrapper, child string) (lo, hi int) {
	d := o.d
	w, ok := o.child(wrapper)
	if !ok {
		return 0, 0
	}
	v := w.get(child)
	w.release()
	raw := d.bytes(v)
	if isEmptyJSON(raw) {
		return 0, 0
	}
	path := d.keyPath(w.path, child)
	lo = len(d.elems)
	if raw[0] != '[' {
		d.elems = append(d.elems, jsonElem{val: v, path: path})
		return lo, len(d.elems)
	}
	b := d.buf[:v.end]
	n := 0
	for i := firstJSONItem(b, v.start); i >= 0; n++ {
		end := skipJSONValue(b, i)
		d.elems = append(d.elems, jsonElem{val: jsonSpan{i, end}, path: d.indexPath(path, n)})
		i = nextJSONItem(b, end)
	}
	return lo, len(d.elems)
}

// values reads a collection of options: objects with a "value", or bare
// strings or numbers.
func (o jsonObject) values(wrapper, child string) []string {
	d := o.d
	var out []string
	lo, hi := o.collection(wrapper, child)
	for i := lo; i < hi; i++ {
		e := d.elems[i]
		raw := d.bytes(e.val)
		switch c := raw[0]; {
		case c == '{':
			v := d.object(e.val, e.path)
			out = append(out, v.str("value"))
			v.release()
		case c == '"' || c == '-' || (c >= '0' && c <= '9'):
			out = append(out, d.text(e.val, e.path, ""))
		default:
			d.fail(e.path, "", "want an object or string, got "+jsonKind(raw))
		}
	}
	return out
}

func (d *jsonDecoder) ticket() Ticket {
	o := d.object(jsonSpan{0, len(d.buf)}, d.keyPath(noPath, "ticket"))
	t := Ticket{
		ID:          o.id("id"),
		Subject:     o.str("subject"),
		Requester:   o.str("requester"),
		RequesterID: o.id("requester_id"),
		Priority:    o.str("priority"),
		Status:      o.str("status"),
		Domain:      o.str("domain_name"),
		Raw:         d.buf,
	}
	if d.err == nil && !isTicketNumber([]byte(t.ID)) {
		if t.ID == "" {
			d.fail(noPath, "ticket.id", "missing")
		} else {
			d.fail(noPath, "ticket.id", "want 1 to 19 digits, got "+strconv.Quote(truncate([]byte(t.ID), 40)))
		}
	}
	if w, ok := o.child("workflow"); ok {
		t.Workflow = Workflow{ID: w.id("id"), Name: w.str("name")}
		w.release()
	}
	if c, ok := o.child("current_step"); ok {
		t.CurrentStep = &StepRef{ID: c.id("id"), Name: c.str("name")}
		c.release()
	}
	lo, hi := o.collection("steps", "step")
	if hi > lo {
		t.Steps = make([]Step, 0, hi-lo)
	}
	for i := lo; i < hi; i++ {
		t.Steps = append(t.Steps, d.step(d.elems[i]))
	}
	lo, hi = o.collection("comments", "comment")
	if hi > lo {
		t.Comments = make([]Comment, 0, hi-lo)
	}
	for i := lo; i < hi; i++ {
		e := d.elems[i]
		t.Comments = append(t.Comments, d.comment(e))
	}
	return t
}

func (d *jsonDecoder) step(e jsonElem) Step {
	o := d.object(e.val, e.path)
	s := Step{
		ID:      o.id("id"),
		Name:    o.str("name"),
		Redone:  o.boolean("redone"),
		Skipped: o.boolean("skipped"),
	}
	lo, hi := o.collection("tasks", "task")
	if hi > lo {
		s.Tasks = make([]Task, 0, hi-lo)
	}
	for i := lo; i < hi; i++ {
		e := d.elems[i]
		t := d.object(e.val, e.path)
		task := Task{
			ID:         t.id("id"),
			Name:       t.str("name"),
			Status:     t.str("status"),
			AssigneeID: t.id("assignee_id"),
			Assignee:   t.str("assignee"),
		}
		flo, fhi := t.collection("fields", "field")
		if fhi > flo {
			task.Fields = make([]Field, 0, fhi-flo)
		}
		for j := flo; j < fhi; j++ {
			task.Fields = append(task.Fields, d.field(d.elems[j]))
		}
		t.release()
		s.Tasks = append(s.Tasks, task)
	}
	o.release()
	return s
}

func (d *jsonDecoder) field(e jsonElem) Field {
	o := d.object(e.val, e.path)
	if d.fieldBuf == nil {
		d.fieldBuf = make([]byte, len(d.buf))
		copy(d.fieldBuf, d.buf)
	}
	f := Field{
		ID:   o.id("id"),
		Name: o.str("name"),
		Type: o.str("@xsi.type"),
		Raw:  d.fieldBuf[e.val.start:e.val.end:e.val.end],
	}
	f.ReadOnly = isTrueJSON(d.bytes(o.get(ReadOnlyKey)))
	ft, _ := LookupFieldType(f.Type)
	switch f.Type {
	case "text_field", "text_area", "hyperlink", "date", "time", "manager":
		f.Text = o.str(ft.ValueKey)
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
		if v := o.get("text"); jsonFirst(d.bytes(v)) == '"' {
			f.Text = d.unquote(v)
		}
	}
	o.release()
	return f
}

// isTrueJSON reports whether raw is true or "true".
func isTrueJSON(raw []byte) bool {
	switch string(trimJSONSpace(raw)) {
	case "true", `"true"`:
		return true
	}
	return false
}

// comment reads a comment leniently (see Comment): it never fails on the
// shape of a member, only notes the path of what it kept raw or dropped.
func (d *jsonDecoder) comment(e jsonElem) Comment {
	raw := d.bytes(e.val)
	if jsonFirst(raw) != '{' {
		d.lenient = append(d.lenient, d.pathString(e.path, ""))
		return Comment{}
	}
	o := d.object(e.val, e.path)
	c := Comment{
		Content:  d.lenientText(o, "content"),
		Created:  d.lenientText(o, "created"),
		TaskName: d.lenientText(o, "task_name"),
		Type:     d.lenientText(o, "type"),
	}
	v := o.get("user")
	switch jsonFirst(d.bytes(v)) {
	case '{':
		c.UserRaw = d.rawCopy(v)
		d.lenient = append(d.lenient, d.pathString(o.path, "user"))
	case '[':
		var users []string
		if err := json.Unmarshal(d.bytes(v), &users); err != nil {
			c.UserRaw = d.rawCopy(v)
			d.lenient = append(d.lenient, d.pathString(o.path, "user"))
			break
		}
		c.Users = users
		c.User = strings.Join(users, ", ")
	default:
		c.User = o.str("user")
	}
	o.release()
	return c
}

// lenientText reads a string member like text, but an object or array is ""
// and noted instead of an error.
func (d *jsonDecoder) lenientText(o jsonObject, key string) string {
	v := o.get(key)
	switch jsonFirst(d.bytes(v)) {
	case '{', '[':
		d.lenient = append(d.lenient, d.pathString(o.path, key))
		return ""
	}
	return o.str(key)
}

// rawCopy returns a copy of the value v.
func (d *jsonDecoder) rawCopy(v jsonSpan) json.RawMessage {
	return append(json.RawMessage(nil), d.bytes(v)...)
}
