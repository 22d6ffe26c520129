package securechange

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
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
// JSON library's syntax error behind it, if any.
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
// also accept "true" and "false". Unknown keys are ignored, names are
// case-sensitive, and of duplicate keys the last wins. The ticket must have
// an id of 1 to 19 digits, which also rejects SecureChange's
// {"result": {...}} error bodies. The decoding is the JSON library's
// (ticket_json.go: a type per quirk).
//
// Errors wrap ErrBadTicketJSON and name the path of the offending value.
func DecodeTicket(b []byte) (Ticket, error) {
	if jsontext.Value(b).Kind() != '{' {
		// Not an object: say whether it is JSON at all.
		var v jsontext.Value
		if err := unmarshalJSON(b, &v); err != nil {
			return Ticket{}, ticketError(err)
		}
		return Ticket{}, &ticketJSONError{msg: "want an object, got " + jsonKind(v)}
	}
	var doc struct {
		Ticket jsontext.Value `json:"ticket"` // a copy; nil when absent
	}
	if err := unmarshalJSON(b, &doc); err != nil {
		return Ticket{}, ticketError(err)
	}
	raw := doc.Ticket
	if raw == nil {
		raw = bytes.Clone(bytes.Trim(b, " \t\r\n"))
	}
	if raw.Kind() != '{' {
		return Ticket{}, &ticketJSONError{path: "ticket", msg: "want an object, got " + jsonKind(raw)}
	}
	var w ticketJSON
	if err := unmarshalJSON(raw, &w); err != nil {
		return Ticket{}, ticketError(err)
	}
	t := w.ticket(raw)
	if !validTicketID(t.ID) {
		if t.ID == "" {
			return Ticket{}, &ticketJSONError{path: "ticket.id", msg: "missing"}
		}
		return Ticket{}, &ticketJSONError{path: "ticket.id", msg: "want 1 to 19 digits, got " + quoteID(t.ID)}
	}
	if odd := w.odd(); len(odd) > 0 {
		slog.Debug("ticket JSON: values of an unexpected shape kept raw", "ticket", t.ID, "paths", odd)
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
