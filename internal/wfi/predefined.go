package wfi

import (
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// The predefined placeholders of WFI and what they read of the ticket.

// Time formats of the predefined placeholders (WFI writes yyyy-MM-dd HH:mm:ss).
const (
	TimeFormat = "2006-01-02 15:04:05" // current_time, ticket_start_time, ticket_update_time; UTC
	DateFormat = "2006-01-02"          // date_only; UTC
)

// predefined is one predefined placeholder. value reports false when the
// name means nothing for this Data (missing); a source that exists but is
// empty gives "", true.
type predefined struct {
	name        string
	needsTicket bool // missing without an enriched ticket (for the error's reason)
	value       func(d *Data) (string, bool)
}

var predefinedList = []predefined{
	{"ticket_id", false, func(d *Data) (string, bool) {
		if d.Ticket != nil && d.Ticket.ID != "" {
			return d.Ticket.ID, true
		}
		return d.Trigger.Ticket.ID, d.Trigger.Ticket.ID != ""
	}},
	{"ticket_subject", false, func(d *Data) (string, bool) {
		if d.Ticket != nil {
			return d.Ticket.Subject, true
		}
		return d.Trigger.Ticket.Subject, d.Trigger.Ticket.ID != ""
	}},
	{"workflow_name", true, ticketString(func(t *securechange.Ticket) string { return t.Workflow.Name })},
	{"ticket_requester", true, ticketString(func(t *securechange.Ticket) string { return t.Requester })},
	{"ticket_requester_full_name", true, ticketString(func(t *securechange.Ticket) string {
		if s := rawJSONString(t.Raw, "requester_full_name"); s != "" {
			return s
		}
		return t.Requester
	})},
	{"ticket_requester_email", true, func(d *Data) (string, bool) {
		if d.Ticket == nil {
			return "", false
		}
		s := rawJSONString(d.Ticket.Raw, "requester_email")
		return s, s != ""
	}},
	{"ticket_priority", true, ticketString(func(t *securechange.Ticket) string { return t.Priority })},
	{"ticket_status", true, ticketString(func(t *securechange.Ticket) string { return t.Status })},
	{"ticket_domain", true, ticketString(func(t *securechange.Ticket) string { return t.Domain })},
	{"step_name", false, func(d *Data) (string, bool) {
		if d.Ticket != nil && d.Ticket.CurrentStep != nil {
			return d.Ticket.CurrentStep.Name, true
		}
		if s := d.Trigger.Ticket.CurrentStage; s != nil {
			return s.Name, true
		}
		return "", d.Ticket != nil // an enriched ticket without a current step is closed
	}},
	{"current_step_id", false, func(d *Data) (string, bool) {
		if d.Ticket != nil && d.Ticket.CurrentStep != nil {
			return d.Ticket.CurrentStep.ID, true
		}
		if s := d.Trigger.Ticket.CurrentStage; s != nil {
			return s.ID, true
		}
		return "", d.Ticket != nil
	}},
	{"previous_step_name", false, func(d *Data) (string, bool) {
		if d.Ticket != nil {
			if s := previousStep(d.Ticket); s != nil {
				return s.Name, true
			}
			return "", true
		}
		if s := d.Trigger.Ticket.CompletionStage; s != nil {
			return s.Name, true
		}
		return "", false
	}},
	{"current_task_id", true, ticketString(func(t *securechange.Ticket) string {
		if task := currentTask(t); task != nil {
			return task.ID
		}
		return ""
	})},
	{"assignee", true, ticketString(func(t *securechange.Ticket) string {
		if task := currentTask(t); task != nil {
			return task.Assignee
		}
		return ""
	})},
	{"reject_reason", true, ticketString(rejectReason)},
	{"redo_reason", true, ticketString(func(t *securechange.Ticket) string {
		return latestComment(t, func(typ string) bool { return strings.EqualFold(typ, "redo") })
	})},
	{"automatic_step_failure_reason", true, ticketString(func(t *securechange.Ticket) string {
		return latestComment(t, func(typ string) bool { return strings.Contains(strings.ToLower(typ), "fail") })
	})},
	{"ticket_start_time", false, func(d *Data) (string, bool) {
		return ticketTime(d, d.Trigger.Ticket.CreatedAt, d.Trigger.Ticket.CreateDate, "create_date")
	}},
	{"ticket_update_time", false, func(d *Data) (string, bool) {
		return ticketTime(d, d.Trigger.Ticket.UpdatedAt, d.Trigger.Ticket.UpdateDate, "update_date")
	}},
	{"current_time", false, func(d *Data) (string, bool) { return d.Now.UTC().Format(TimeFormat), true }},
	{"date_only", false, func(d *Data) (string, bool) { return d.Now.UTC().Format(DateFormat), true }},
	{"latest_comment_content", true, ticketString(func(t *securechange.Ticket) string {
		if len(t.Comments) == 0 {
			return ""
		}
		return t.Comments[len(t.Comments)-1].Content
	})},
	{"ticket_comments", true, ticketString(func(t *securechange.Ticket) string {
		var b strings.Builder
		for i, c := range t.Comments {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(c.User)
			b.WriteString(": ")
			b.WriteString(c.Content)
		}
		return b.String()
	})},
	{"event", false, func(d *Data) (string, bool) { return string(d.Trigger.Event), d.Trigger.Event != "" }},
	{"trigger_id", false, func(d *Data) (string, bool) { return d.Trigger.ID, d.Trigger.ID != "" }},
}

var predefinedIndex = func() map[string]*predefined {
	m := make(map[string]*predefined, len(predefinedList))
	for i := range predefinedList {
		m[predefinedList[i].name] = &predefinedList[i]
	}
	return m
}()

// Predefined lists the predefined placeholder names, for docs and errors.
// The slice is a fresh copy.
func Predefined() []string {
	names := make([]string, len(predefinedList))
	for i, p := range predefinedList {
		names[i] = p.name
	}
	return names
}

func ticketString(f func(t *securechange.Ticket) string) func(d *Data) (string, bool) {
	return func(d *Data) (string, bool) {
		if d.Ticket == nil {
			return "", false
		}
		return f(d.Ticket), true
	}
}

// rawJSONString returns the string at path in a ticket's raw JSON, "" if absent
// or not a string.
func rawJSONString(raw []byte, path string) string {
	if len(raw) == 0 {
		return ""
	}
	r := gjson.GetBytes(raw, path)
	if r.Type != gjson.String {
		return ""
	}
	return r.Str
}

// ticketTime formats a trigger date (epoch milliseconds) as TimeFormat in
// UTC; a date that is not epoch milliseconds is given as SecureChange wrote
// it; without one, the enriched ticket's raw rawKey, if any.
func ticketTime(d *Data, at *time.Time, given, rawKey string) (string, bool) {
	if at != nil {
		return at.UTC().Format(TimeFormat), true
	}
	if given != "" {
		return given, true
	}
	if d.Ticket != nil {
		if s := rawJSONString(d.Ticket.Raw, rawKey); s != "" {
			return s, true
		}
	}
	return "", false
}

// currentStep returns the step current_step names (its latest occurrence;
// the latest step if none matches), nil for a ticket without a current step.
func currentStep(t *securechange.Ticket) *securechange.Step {
	if t.CurrentStep == nil || len(t.Steps) == 0 {
		return nil
	}
	for i := len(t.Steps) - 1; i >= 0; i-- {
		if s := &t.Steps[i]; t.CurrentStep.ID != "" && s.ID == t.CurrentStep.ID {
			return s
		}
	}
	for i := len(t.Steps) - 1; i >= 0; i-- {
		if s := &t.Steps[i]; t.CurrentStep.Name != "" && s.Name == t.CurrentStep.Name {
			return s
		}
	}
	return &t.Steps[len(t.Steps)-1]
}

// currentTask returns the current step's first task that is not DONE, or
// its first task; nil if there is none.
func currentTask(t *securechange.Ticket) *securechange.Task {
	s := currentStep(t)
	if s == nil || len(s.Tasks) == 0 {
		return nil
	}
	for i := range s.Tasks {
		if !strings.EqualFold(s.Tasks[i].Status, "DONE") {
			return &s.Tasks[i]
		}
	}
	return &s.Tasks[0]
}

// previousStep returns the step before the current one (on ADVANCE, the
// step just completed); for a ticket without a current step (closed), its
// last step; nil if there is none.
func previousStep(t *securechange.Ticket) *securechange.Step {
	n := len(t.Steps)
	if t.CurrentStep == nil {
		if n == 0 {
			return nil
		}
		return &t.Steps[n-1]
	}
	cur := currentStep(t)
	for i := n - 1; i > 0; i-- {
		if &t.Steps[i] == cur {
			return &t.Steps[i-1]
		}
	}
	return nil
}

// rejectReason is the reason of the latest approve_reject field that
// rejects, else the latest comment of type reject, else "".
func rejectReason(t *securechange.Ticket) string {
	for i := len(t.Steps) - 1; i >= 0; i-- {
		for _, task := range t.Steps[i].Tasks {
			for _, f := range task.Fields {
				if f.Type == "approve_reject" && f.Approved != nil && !*f.Approved {
					return f.Reason
				}
			}
		}
	}
	return latestComment(t, func(typ string) bool {
		return strings.EqualFold(typ, "reject") || strings.EqualFold(typ, "rejected")
	})
}

func latestComment(t *securechange.Ticket, match func(typ string) bool) string {
	for i := len(t.Comments) - 1; i >= 0; i-- {
		if match(t.Comments[i].Type) {
			return t.Comments[i].Content
		}
	}
	return ""
}

// findField looks a ticket field up by name: the current task's fields,
// then the current step's other tasks, then every step from the latest to
// the first.
func findField(t *securechange.Ticket, name string) (*securechange.Field, bool) {
	inTask := func(task *securechange.Task) *securechange.Field {
		for i := range task.Fields {
			if task.Fields[i].Name == name {
				return &task.Fields[i]
			}
		}
		return nil
	}
	task := currentTask(t)
	if task != nil {
		if f := inTask(task); f != nil {
			return f, true
		}
	}
	if s := currentStep(t); s != nil {
		for i := range s.Tasks {
			if f := inTask(&s.Tasks[i]); f != nil {
				return f, true
			}
		}
	}
	for i := len(t.Steps) - 1; i >= 0; i-- {
		for j := range t.Steps[i].Tasks {
			if f := inTask(&t.Steps[i].Tasks[j]); f != nil {
				return f, true
			}
		}
	}
	return nil, false
}
