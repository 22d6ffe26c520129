package securechange

// The wire shapes of a SecureChange ticket: the members DecodeTicket reads, in
// the quirk types of ticket_json.go, and how they make a Ticket.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// ticketJSON is a ticket object: the members DecodeTicket reads.
type ticketJSON struct {
	ID          jsonID                 `json:"id"`
	Subject     jsonText               `json:"subject"`
	Requester   jsonText               `json:"requester"`
	RequesterID jsonID                 `json:"requester_id"`
	Priority    jsonText               `json:"priority"`
	Status      jsonText               `json:"status"`
	Domain      jsonText               `json:"domain_name"`
	Workflow    optional[refJSON]      `json:"workflow"`
	CurrentStep optional[refJSON]      `json:"current_step"`
	Steps       optional[stepsJSON]    `json:"steps"`
	Comments    optional[commentsJSON] `json:"comments"`
}

// refJSON is the ticket's "workflow" or "current_step".
type refJSON struct {
	ID   jsonID   `json:"id"`
	Name jsonText `json:"name"`
}

// The wrappers of the collections: "steps": {"step": ...} and so on.
type (
	stepsJSON struct {
		Step many[stepJSON] `json:"step"`
	}
	tasksJSON struct {
		Task many[taskJSON] `json:"task"`
	}
	fieldsJSON struct {
		Field many[fieldJSON] `json:"field"`
	}
	commentsJSON struct {
		Comment many[commentJSON] `json:"comment"`
	}
	optionsJSON struct {
		Option many[optionJSON] `json:"option"`
	}
	selectedJSON struct {
		Option many[optionJSON] `json:"selected_option"`
	}
)

// ticket returns the Ticket w holds, whose object is raw.
func (w ticketJSON) ticket(raw []byte) Ticket {
	t := Ticket{
		ID:          string(w.ID),
		Subject:     string(w.Subject),
		Requester:   string(w.Requester),
		RequesterID: string(w.RequesterID),
		Priority:    string(w.Priority),
		Status:      string(w.Status),
		Domain:      string(w.Domain),
		Workflow:    Workflow{ID: string(w.Workflow.v.ID), Name: string(w.Workflow.v.Name)},
		Steps:       values(w.Steps.v.Step),
		Comments:    values(w.Comments.v.Comment),
		Raw:         raw,
	}
	if c := w.CurrentStep; c.ok {
		t.CurrentStep = &StepRef{ID: string(c.v.ID), Name: string(c.v.Name)}
	}
	return t
}

// odd returns the paths of the values of an unexpected shape that were kept
// raw or dropped (see Comment).
func (w ticketJSON) odd() []string {
	var paths []string
	for i, c := range w.Comments.v.Comment {
		for _, key := range c.odd {
			p := "ticket.comments.comment[" + strconv.Itoa(i) + "]"
			if key != "" {
				p += "." + key
			}
			paths = append(paths, p)
		}
	}
	return paths
}

// stepJSON is an element of "steps.step".
type stepJSON struct{ s Step }

func (e stepJSON) value() Step { return e.s }

func (e *stepJSON) UnmarshalJSON(b []byte) error {
	var m struct {
		ID      jsonID              `json:"id"`
		Name    jsonText            `json:"name"`
		Redone  jsonFlag            `json:"redone"`
		Skipped jsonFlag            `json:"skipped"`
		Tasks   optional[tasksJSON] `json:"tasks"`
	}
	err := decodeObject(b, &m)
	e.s = Step{
		ID:      string(m.ID),
		Name:    string(m.Name),
		Redone:  m.Redone.value,
		Skipped: m.Skipped.value,
		Tasks:   values(m.Tasks.v.Task),
	}
	return err
}

// taskJSON is an element of a step's "tasks.task".
type taskJSON struct{ t Task }

func (e taskJSON) value() Task { return e.t }

func (e *taskJSON) UnmarshalJSON(b []byte) error {
	var m struct {
		ID         jsonID               `json:"id"`
		Name       jsonText             `json:"name"`
		Status     jsonText             `json:"status"`
		AssigneeID jsonID               `json:"assignee_id"`
		Assignee   jsonText             `json:"assignee"`
		Fields     optional[fieldsJSON] `json:"fields"`
	}
	err := decodeObject(b, &m)
	e.t = Task{
		ID:         string(m.ID),
		Name:       string(m.Name),
		Status:     string(m.Status),
		AssigneeID: string(m.AssigneeID),
		Assignee:   string(m.Assignee),
		Fields:     values(m.Fields.v.Field),
	}
	return err
}

// fieldJSON is an element of a task's "fields.field": which members hold
// its value depends on its type, per FieldTypes.
type fieldJSON struct{ f Field }

func (e fieldJSON) value() Field { return e.f }

func (e *fieldJSON) UnmarshalJSON(b []byte) error {
	var m members
	if err := decodeObject(b, &m); err != nil {
		return err
	}
	var id jsonID
	var name, typ jsonText
	if err := cmp.Or(m.decode("id", &id), m.decode("name", &name), m.decode("@xsi.type", &typ)); err != nil {
		return err
	}
	f := &e.f
	*f = Field{ID: string(id), Name: string(name), Type: string(typ), ReadOnly: isTrueJSON(m[ReadOnlyKey]), Raw: bytes.Clone(b)}
	var options optional[optionsJSON]
	var selected optional[selectedJSON]
	var flag jsonFlag
	var err error
	switch ft, _ := LookupFieldType(f.Type); ft.Shape {
	case ShapeString:
		err = m.decode(ft.ValueKey, (*jsonText)(&f.Text))
	case ShapeSelection:
		err = cmp.Or(m.decode(ft.ValueKey, (*jsonText)(&f.Selection)), m.decode("options", &options))
	case ShapeMultiSelection:
		err = cmp.Or(m.decode("options", &options), m.decode(ft.ValueKey, &selected))
	case ShapeBool:
		err = m.decode(ft.ValueKey, &flag)
		f.Checked = flag.ptr()
	case ShapeApproval:
		err = cmp.Or(m.decode(ft.ValueKey, &flag), m.decode("reason", (*jsonText)(&f.Reason)))
		f.Approved = flag.ptr()
	default: // ShapeRaw: the text, if a string, as a convenience
		if t := m["text"]; t.Kind() == '"' {
			f.Text = unquote(t)
		}
	}
	f.Options = values(options.v.Option)
	f.Selected = values(selected.v.Option)
	return err
}

// optionJSON is an element of "options.option" or
// "selected_options.selected_option": an object with a "value", or a bare
// string or number.
type optionJSON string

func (o optionJSON) value() string { return string(o) }

func (o *optionJSON) UnmarshalJSON(b []byte) error {
	switch jsontext.Value(b).Kind() {
	case '{':
		var m struct {
			Value jsonText `json:"value"`
		}
		err := unmarshalJSON(b, &m)
		*o = optionJSON(m.Value)
		return err
	case '"', '0':
		return (*jsonText)(o).UnmarshalJSON(b)
	}
	return want("an object or string", b)
}

// commentJSON is an element of "comments.comment", decoded leniently (see
// Comment): it never fails, and odd names the members of an unexpected
// shape ("" for the comment itself).
type commentJSON struct {
	c   Comment
	odd []string
}

func (e commentJSON) value() Comment { return e.c }

func (e *commentJSON) UnmarshalJSON(b []byte) error {
	*e = commentJSON{}
	var m members
	if err := decodeObject(b, &m); err != nil {
		e.odd = []string{""}
		return nil
	}
	c := &e.c
	c.Content, c.Created, c.TaskName, c.Type = e.text(m, "content"), e.text(m, "created"), e.text(m, "task_name"), e.text(m, "type")
	switch user := m["user"]; user.Kind() {
	case '{':
		c.UserRaw = json.RawMessage(user)
		e.odd = append(e.odd, "user")
	case '[':
		if err := unmarshalJSON(user, &c.Users); err != nil {
			c.Users, c.UserRaw = nil, json.RawMessage(user)
			e.odd = append(e.odd, "user")
			break
		}
		c.User = strings.Join(c.Users, ", ")
	default:
		c.User = e.text(m, "user")
	}
	return nil
}

// text reads the member key as a jsonText; of any other shape it is "", noted
// in odd.
func (e *commentJSON) text(m members, key string) string {
	var t jsonText
	if m.decode(key, &t) != nil {
		e.odd = append(e.odd, key)
	}
	return string(t)
}
