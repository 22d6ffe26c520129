package wfi_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// missing marks a placeholder that must resolve to nothing.
const missing = "\x00missing"

func TestPredefined(t *testing.T) {
	t.Parallel()
	advance := fixture(t, "advance", true)
	bare := fixture(t, "advance", false)
	comments := "m.keller: Needed before the partner go-live on 1 December.\n" +
		`s.lead: Approved: "low risk" per CAB; certs in C:\partner\acme.`
	tests := []struct {
		name              string
		enriched, trigger string // want with the enriched ticket, with the trigger only
	}{
		{"ticket_id", "1002", "1002"},
		{"ticket_subject", "Open HTTPS from the partner VPN to the API gateway", "Open HTTPS from the partner VPN to the API gateway"},
		{"workflow_name", "Access Request", missing},
		{"ticket_requester", "m.keller", missing},
		{"ticket_requester_full_name", "m.keller", missing},
		{"ticket_requester_email", missing, missing},
		{"ticket_priority", "High", missing},
		{"ticket_status", "In Progress", missing},
		{"ticket_domain", "Default", missing},
		{"step_name", "Implementation", "Implementation"},
		{"current_step_id", "4103", "4103"},
		{"previous_step_name", "Approval", "Approval"},
		{"current_task_id", "5103", missing},
		{"assignee", "n.eng", missing},
		{"reject_reason", "", missing},
		{"redo_reason", "", missing},
		{"automatic_step_failure_reason", "", missing},
		{"ticket_start_time", "2025-11-23 09:00:00", "2025-11-23 09:00:00"},
		{"ticket_update_time", "2025-11-23 11:00:00", "2025-11-23 11:00:00"},
		{"current_time", "2025-11-23 11:05:00", "2025-11-23 11:05:00"},
		{"date_only", "2025-11-23", "2025-11-23"},
		{"latest_comment_content", `Approved: "low risk" per CAB; certs in C:\partner\acme.`, missing},
		{"ticket_comments", comments, missing},
		{"event", "ADVANCE", "ADVANCE"},
		{"trigger_id", advance.Trigger.ID, bare.Trigger.ID},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				d    *wfi.Data
				want string
			}{{advance, tt.enriched}, {bare, tt.trigger}} {
				got, ok := c.d.Lookup(tt.name)
				if c.want == missing {
					if ok {
						t.Errorf("enriched=%v: got %q, want missing", c.d.Ticket != nil, got)
					}
					continue
				}
				if !ok || got != c.want {
					t.Errorf("enriched=%v: got %q, %v; want %q", c.d.Ticket != nil, got, ok, c.want)
				}
			}
		})
	}
	for _, n := range wfi.Predefined() {
		if !covered[n] {
			t.Errorf("predefined placeholder %q has no test case", n)
		}
	}
	if bare.Trigger.ID == "" {
		t.Error("fixture trigger has no id")
	}
}

func TestPredefinedOtherTickets(t *testing.T) {
	t.Parallel()
	reject, closed := fixture(t, "reject", true), fixture(t, "close", true)
	tests := []struct {
		d          *wfi.Data
		name, want string
	}{
		{reject, "reject_reason", `Any-any from guest Wi-Fi breaks policy NET-7 "no guest traffic to the DC".`},
		{reject, "ticket_status", "Ticket Rejected"},
		{reject, "step_name", ""}, // rejected: no current step, and the trigger has no current_stage
		{reject, "assignee", ""},
		{reject, "current_task_id", ""},
		{reject, "ticket_subject", "Allow any-any from guest Wi-Fi & the lab to the data centre"},
		{closed, "step_name", ""},
		{closed, "previous_step_name", "Verification"},
		{closed, "Implementation Notes", "Rule 4711 on fw-edge-01"},
		{closed, "ticket_update_time", "2025-11-24 12:00:00"},
	}
	for _, tt := range tests {
		got, ok := tt.d.Lookup(tt.name)
		if !ok || got != tt.want {
			t.Errorf("%s %s: got %q, %v; want %q", tt.d.Trigger.Event, tt.name, got, ok, tt.want)
		}
	}

	// Reasons from comments, the requester's details from the raw JSON.
	d := ticketData(t, `{"ticket": {"id": 7, "requester": "a.b", "requester_full_name": "Ann Berg", "requester_email": "ann@example.com",
		"comments": {"comment": [
			{"content": "first reject", "type": "reject", "user": "x"},
			{"content": "redo 1", "type": "redo", "user": "x"},
			{"content": "second reject", "type": "Reject", "user": "y"},
			{"content": "redo 2", "type": "REDO", "user": "y"},
			{"content": "device timeout", "type": "automation_failure", "user": "system"},
			{"content": "", "type": "normal", "user": "z"}]}}}`)
	for name, want := range map[string]string{
		"reject_reason":                 "second reject",
		"redo_reason":                   "redo 2",
		"automatic_step_failure_reason": "device timeout",
		"latest_comment_content":        "",
		"ticket_requester_full_name":    "Ann Berg",
		"ticket_requester_email":        "ann@example.com",
		"step_name":                     "",
		"previous_step_name":            "",
		"ticket_start_time":             missing,
	} {
		got, ok := d.Lookup(name)
		if want == missing {
			if ok {
				t.Errorf("%s: got %q, want missing", name, got)
			}
		} else if !ok || got != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, ok, want)
		}
	}

	// A date that is not epoch milliseconds is given as is; the ticket's own
	// create_date is the fallback.
	d.Trigger.Ticket.CreateDate = "2025-11-23T09:00:00Z"
	if got, _ := d.Lookup("ticket_start_time"); got != "2025-11-23T09:00:00Z" {
		t.Errorf("non-epoch createDate: %q", got)
	}
	d2 := ticketData(t, `{"ticket": {"id": 8, "create_date": "2025-01-02 03:04:05"}}`)
	if got, _ := d2.Lookup("ticket_start_time"); got != "2025-01-02 03:04:05" {
		t.Errorf("ticket create_date: %q", got)
	}
	// current_time is UTC whatever the zone of Now.
	d2.Now = time.Date(2025, 11, 23, 12, 5, 0, 0, time.FixedZone("CET", 3600))
	if got, _ := d2.Lookup("current_time"); got != "2025-11-23 11:05:00" {
		t.Errorf("current_time: %q", got)
	}
}

func TestPredefinedDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range wfi.Predefined() {
		if !regexp.MustCompile(`(?m)^//\t` + regexp.QuoteMeta(n) + ` `).Match(doc) {
			t.Errorf("predefined placeholder %q is not in the table of doc.go", n)
		}
	}
}

func TestFieldLookup(t *testing.T) {
	t.Parallel()
	d := fixture(t, "advance", true)
	tests := []struct{ name, want string }{
		{"Business Justification", "Partner Acme calls /v2/orders over HTTPS.\nContract ref: ACME-2025-114"}, // text_area, earlier step
		{"Change Window", "Weekend"},       // drop_down_list
		{"Emergency", "false"},             // checkbox
		{"Approve Access Request", "true"}, // approve_reject
		{"Environments", "Production, DR"}, // multiple_selection
		{"ITSM Change", "CHG0030042"},      // text_field
		{"Implementation Notes", ""},       // the current task's, empty
		{"Rule Verified", "false"},         // the current task's checkbox
		{"Gateway Change", "ACL-88"},       // another task of the current step
		{"Access Request", ""},             // a complex field has no text
		{"Change Window", "Weekend"},
	}
	for _, tt := range tests {
		got, ok := d.Lookup(tt.name)
		if !ok || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, ok, tt.want)
		}
		// field finds it too, and #name# renders it.
		if got := render(t, "{{field `"+tt.name+"`}}", d, wfi.EscapeNone); got != tt.want {
			t.Errorf("field %s: got %q", tt.name, got)
		}
		if got := render(t, "#"+tt.name+"#", d, wfi.EscapeNone); got != tt.want {
			t.Errorf("#%s#: got %q", tt.name, got)
		}
	}
}

func TestFieldPrecedence(t *testing.T) {
	t.Parallel()
	d := ticketData(t, `{"ticket": {"id": 9, "current_step": {"id": 3, "name": "Approval"},
		"steps": {"step": [
			{"id": 1, "name": "Open request", "tasks": {"task": {"id": 11, "status": "DONE", "fields": {"field": [
				{"@xsi.type": "text_field", "name": "Note", "text": "from step 1"},
				{"@xsi.type": "text_field", "name": "Only Early", "text": "early"},
				{"@xsi.type": "text_field", "name": "assignee", "text": "a field named like a predefined placeholder"}]}}}},
			{"id": 2, "name": "Approval", "redone": true, "tasks": {"task": {"id": 21, "status": "DONE", "fields": {"field": [
				{"@xsi.type": "text_field", "name": "Redone", "text": "old"}]}}}},
			{"id": 3, "name": "Approval", "tasks": {"task": [
				{"id": 31, "status": "DONE", "assignee": "done.person", "fields": {"field": {"@xsi.type": "text_field", "name": "Note", "text": "from the done task"}}},
				{"id": 32, "status": "ASSIGNED", "assignee": "cur.person", "fields": {"field": [
					{"@xsi.type": "text_field", "name": "Note", "text": "from the current task"},
					{"@xsi.type": "text_field", "name": "Redone", "text": "new"}]}}]}}]}}}`)
	d.Custom = map[string]string{"Custom Only": "custom"}
	for name, want := range map[string]string{
		"Note":            "from the current task", // current task first
		"Only Early":      "early",                 // any step's latest value
		"Redone":          "new",                   // the redone step's latest occurrence
		"assignee":        "cur.person",            // predefined before fields
		"current_task_id": "32",
		"Custom Only":     "custom",
	} {
		if got, ok := d.Lookup(name); !ok || got != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, ok, want)
		}
	}
}

// TestCustomPlaceholderPrecedence: as in WFI, a custom placeholder wins over a
// predefined placeholder and a ticket field of the same name; inside its own template
// the name is what it overrides; the namespaces are still reached.
func TestCustomPlaceholderPrecedence(t *testing.T) {
	t.Parallel()
	d := ticketData(t, `{"ticket": {"id": 9, "subject": "Open 443", "current_step": {"id": 3, "name": "Approval"},
		"steps": {"step": [{"id": 3, "name": "Approval", "tasks": {"task": {"id": 31, "status": "ASSIGNED", "assignee": "cur.person",
			"fields": {"field": [
				{"@xsi.type": "text_field", "name": "Note", "text": "from the field"},
				{"@xsi.type": "text_field", "name": "assignee", "text": "a field named like a predefined placeholder"}]}}}}]}}}`)
	d.Correlation = map[string]string{"sys_id": "abc"}
	d.Custom = map[string]string{
		"assignee":       "custom assignee",       // a predefined name, and a field's
		"Note":           "custom note",           // a field's name
		"ticket_subject": "[SC] #ticket_subject#", // wraps the predefined value
		"step_name":      "#Note# / #ticket_id#",  // other names as usual
		"record":         "#correlation.sys_id#",  // a namespace from a custom one
		"a":              "#b#",                   // a cycle is still one
		"b":              "#a#",
	}
	for name, want := range map[string]string{
		"assignee":           "custom assignee",
		"Note":               "custom note",
		"ticket_subject":     "[SC] Open 443",
		"step_name":          "custom note / 9",
		"record":             "abc",
		"current_task_id":    "31",
		"correlation.sys_id": "abc",
	} {
		if got, ok := d.Lookup(name); !ok || got != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, ok, want)
		}
	}
	if err := renderErr(t, "t", "#a#", d, wfi.EscapeNone); !errors.Is(err, wfi.ErrCycle) {
		t.Errorf("#a#: %v, want a cycle", err)
	}
}

func TestCustomPlaceholders(t *testing.T) {
	t.Parallel()
	d := fixture(t, "advance", true)
	d.Custom = map[string]string{
		"summary": "SC-#ticket_id#: #short#",
		"short":   "#ticket_subject# (#upper_step#)",
		// Go templates work in custom placeholders too.
		"upper_step": "{{ph `step_name` | upper}}",
		"quoted":     `say "hi" \ #ticket_id#`,
		"hash":       "## #1",
		// A custom placeholder stands in for a predefined one that has no value.
		"ticket_requester_email": "#ticket_requester#@example.com",
	}
	tests := []struct {
		text string
		esc  wfi.Escape
		want string
	}{
		{"#summary#", wfi.EscapeNone, "SC-1002: Open HTTPS from the partner VPN to the API gateway (IMPLEMENTATION)"},
		{`{"s": "#quoted#"}`, wfi.EscapeJSON, `{"s": "say \"hi\" \\ 1002"}`}, // escaped once, where pasted
		{"#quoted#", wfi.EscapeHTML, "say &#34;hi&#34; \\ 1002"},
		{"#hash#", wfi.EscapeNone, "# #1"},
		{"#ticket_requester_email#", wfi.EscapeNone, "m.keller@example.com"},
	}
	for _, tt := range tests {
		if got := render(t, tt.text, d, tt.esc); got != tt.want {
			t.Errorf("%s (%v): got %q, want %q", tt.text, tt.esc, got, tt.want)
		}
	}
	if got, ok := d.Lookup("summary"); !ok || !strings.HasPrefix(got, "SC-1002: ") {
		t.Errorf("Lookup(summary) = %q, %v", got, ok)
	}
}

func TestCustomPlaceholderCycle(t *testing.T) {
	t.Parallel()
	d := &wfi.Data{Custom: map[string]string{
		"a":    "x #b# y",
		"b":    "{{ph `c`}}",
		"c":    "#a#",
		"self": "#self#",
		"ok":   "#trigger_id#",
	}}
	tests := []struct{ text, want string }{
		{"#a#", `template "t": custom placeholder cycle #a# -> #b# -> #c# -> #a#`},
		{"#c#", `template "t": custom placeholder cycle #c# -> #a# -> #b# -> #c#`},
		{"#self#", `template "t": custom placeholder cycle #self# -> #self#`},
		{"{{if has `a`}}yes{{end}}", `template "t": custom placeholder cycle #a# -> #b# -> #c# -> #a#`},
	}
	for _, tt := range tests {
		err := renderErr(t, "t", tt.text, d, wfi.EscapeJSON)
		if !errors.Is(err, wfi.ErrCycle) || errors.Is(err, wfi.ErrMissing) {
			t.Errorf("%s: %v: want ErrCycle", tt.text, err)
		}
		if err.Error() != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.text, err, tt.want)
		}
	}
	if v, ok := d.Lookup("a"); ok {
		t.Errorf("Lookup of a cycle = %q, true", v)
	}
	// The same placeholder twice is not a cycle.
	d.Custom["twice"] = "#ok##ok#"
	if _, err := wfi.Render("t", "#twice#", d, wfi.EscapeNone); !errors.Is(err, wfi.ErrMissing) {
		t.Errorf("twice: %v (want only the missing trigger_id)", err)
	}
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	xmlText := `<ticket_info><id>77</id><subject>s</subject><createDate>1763888400000</createDate>` +
		`<current_stage><id>4</id><name>Implementation</name></current_stage>` +
		`<completion_data><stage><id>3</id><name>Approval</name></stage></completion_data>` +
		`<open_request_stage><id>1</id><name>Open request</name></open_request_stage>` +
		`<priority_hint> urgent &amp; <b>bold</b> </priority_hint><priority_hint>later wins</priority_hint><flag/></ticket_info>`
	info, err := securechange.DecodeTicketInfo([]byte(xmlText))
	if err != nil {
		t.Fatal(err)
	}
	d := &wfi.Data{
		Trigger:     events.NewTriggerEvent(events.Advance, info, []byte(xmlText), "a1 a2", "/x.py"),
		Attrs:       map[string]string{"state": "-1", "empty": ""},
		Correlation: map[string]string{"sys_id": "0af1", "number": "CHG1"},
		Result: []byte(`{"result": {"sys_id": "9d3", "number": "CHG0030042", "count": 3, "ok": true, "none": null,
			"obj": {"a": [1, 2]}, "items": [{"name": "x", "id": "id-x"}, {"name": "y", "id": "id-y"}]},
			"list": [{"number": "INC1"}, {"number": "INC2"}]}`),
	}
	tests := []struct{ name, want string }{
		{"correlation.sys_id", "0af1"},
		{"correlation.number", "CHG1"},
		{"attr.state", "-1"},
		{"attr.empty", ""},
		{"result.result.sys_id", "9d3"},
		{"result.result.count", "3"},
		{"result.result.ok", "true"},
		{"result.result.none", ""},
		{"result.result.obj", `{"a": [1, 2]}`},
		{"result.result.obj.a.1", "2"},
		{"result.list.0.number", "INC1"},
		{"result.list.#", "2"},
		{`result.result.items.#(name=="y").id`, "id-y"},
		{"trigger.event", "ADVANCE"},
		{"trigger.id", d.Trigger.ID},
		{"trigger.args", "a1 a2"},
		{"trigger.script", "/x.py"},
		{"trigger.ticket_id", "77"},
		{"trigger.subject", "s"},
		{"trigger.create_date", "1763888400000"},
		{"trigger.current_stage", "Implementation"},
		{"trigger.current_stage.id", "4"},
		{"trigger.current_stage.name", "Implementation"},
		{"trigger.completion_stage", "Approval"},
		{"trigger.completion_stage.id", "3"},
		{"trigger.open_request_stage.name", "Open request"},
		{"trigger.priority_hint", "later wins"},
		{"trigger.flag", ""},
	}
	for _, tt := range tests {
		if got, ok := d.Lookup(tt.name); !ok || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
	for _, n := range []string{"correlation.nope", "attr.nope", "result.result.nope", "result.", "trigger.update_date",
		"trigger.current_stage.nope", "trigger.nope", "nope"} {
		if got, ok := d.Lookup(n); ok {
			t.Errorf("%s: got %q, want missing", n, got)
		}
	}
	// As placeholders: #…# where the path allows it, ph otherwise.
	got := render(t, "#result.result.sys_id# #result.list.0.number# {{ph `result.result.items.#(name==\"x\").id`}} #trigger.current_stage.id#", d, wfi.EscapeURL)
	if got != "9d3 INC1 id-x 4" {
		t.Errorf("rendered %q", got)
	}
	// The first extra element of a name when it is the only one.
	d.Trigger.Ticket.Extra = d.Trigger.Ticket.Extra[:1]
	if got, _ := d.Lookup("trigger.priority_hint"); got != "urgent & bold" {
		t.Errorf("extra element text: %q", got)
	}
}

// TestResultServiceNow: ServiceNow wraps records in {"result": …}; paths
// reach into it without naming it, the top level still wins.
func TestResultServiceNow(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, name, want string }{
		{`{"result": {"sys_id": "abc", "number": "CHG1"}}`, "result.sys_id", "abc"},
		{`{"result": {"sys_id": "abc", "number": "CHG1"}}`, "result.result.number", "CHG1"},
		{`{"result": [{"number": "CHG9"}, {"number": "CHG10"}]}`, "result.0.number", "CHG9"},
		{`{"result": [{"number": "CHG9"}, {"number": "CHG10"}]}`, "result.#", "2"},
		{`[{"number": "X1"}]`, "result.0.number", "X1"},
		{`{"sys_id": "top", "result": {"sys_id": "inner"}}`, "result.sys_id", "top"},
		{`{"items": [{"name": "x", "id": 1}, {"name": "y", "id": 2}]}`, `result.items.#(name=="y").id`, "2"},
	}
	for _, tt := range tests {
		d := &wfi.Data{Result: []byte(tt.body)}
		if got, ok := d.Lookup(tt.name); !ok || got != tt.want {
			t.Errorf("%s in %s: got %q, %v; want %q", tt.name, tt.body, got, ok, tt.want)
		}
	}
}

func TestNewData(t *testing.T) {
	t.Parallel()
	op := fixtureOp(t, "advance", true)
	op.Attrs = map[string]string{"k": "v"}
	d, err := wfi.NewData(op, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if d.Ticket == nil || d.Ticket.ID != "1002" || d.Trigger.ID != op.TriggerID || d.Attrs["k"] != "v" || !d.Now.Equal(fixedNow) {
		t.Errorf("NewData: %+v", d)
	}

	op.Context.Ticket = []byte("null")
	if d, err := wfi.NewData(op, fixedNow); err != nil || d.Ticket != nil {
		t.Errorf("null ticket: %v, %+v", err, d)
	}

	op.Context.Ticket = []byte(`{"ticket": {"id": "x1"}}`)
	_, err = wfi.NewData(op, fixedNow)
	if !errors.Is(err, securechange.ErrBadTicketJSON) || !strings.Contains(err.Error(), op.ID) || !strings.Contains(err.Error(), `"open-change"`) {
		t.Errorf("bad ticket: %v", err)
	}

	// Without a context, the trigger is what the operation knows.
	op.Context = nil
	d, err = wfi.NewData(op, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"trigger_id": op.TriggerID, "event": "ADVANCE", "ticket_id": "1002", "ticket_subject": ""} {
		if got, ok := d.Lookup(name); !ok || got != want {
			t.Errorf("no context: %s = %q, %v; want %q", name, got, ok, want)
		}
	}
}
