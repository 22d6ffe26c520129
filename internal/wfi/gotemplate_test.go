package wfi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
)

func TestGoTemplate(t *testing.T) {
	t.Parallel()
	d := fixture(t, "advance", true)
	d.Attrs = map[string]string{"snow_state": "-2", "tags": "a<b"}
	d.Custom = map[string]string{"needs_missing": "#nope#", "jira_summary": fixtureCustom["jira_summary"]}
	bare := fixture(t, "advance", false)
	tests := []struct {
		name, text string
		d          *wfi.Data
		esc        wfi.Escape
		want       string
	}{
		{"if has", "{{if has `ITSM Change`}}change #ITSM Change#{{else}}none{{end}}", d, wfi.EscapeNone, "change CHG0030042"},
		{"if has not", "{{if has `workflow_name`}}#workflow_name#{{else}}not enriched{{end}}", bare, wfi.EscapeNone, "not enriched"},
		{"if eq", "{{if eq (ph `step_name`) `Implementation`}}-1{{else}}-3{{end}}", d, wfi.EscapeNone, "-1"},
		{"with ticket", "{{with .Ticket}}{{.Workflow.Name}}{{else}}-{{end}}", bare, wfi.EscapeNone, "-"},
		{"range comments", "{{range $i, $c := .Ticket.Comments}}{{if $i}}|{{end}}{{$c.User}}{{end}}", d, wfi.EscapeNone, "m.keller|s.lead"},
		{"range steps", "{{range .Ticket.Steps}}{{.Name}}:{{len .Tasks}} {{end}}", d, wfi.EscapeNone, "Open request:1 Approval:1 Implementation:2 "},
		{"range fields", "{{range (index .Ticket.Steps 0).Tasks}}{{range .Fields}}{{if eq .Type `multiple_selection`}}{{join `+` .Selected}}{{end}}{{end}}{{end}}", d, wfi.EscapeNone, "Production+DR"},
		{"dot escaped", `{"c": "{{(index .Ticket.Comments 1).Content}}"}`, d, wfi.EscapeJSON, `{"c": "Approved: \"low risk\" per CAB; certs in C:\\partner\\acme."}`},
		{"ph escaped once", `{{ph "latest_comment_content"}}`, d, wfi.EscapeJSON, `Approved: \"low risk\" per CAB; certs in C:\\partner\\acme.`},
		{"upper of ph", "{{upper (ph `latest_comment_content`)}}", d, wfi.EscapeJSON, `APPROVED: \"LOW RISK\" PER CAB; CERTS IN C:\\PARTNER\\ACME.`},
		{"raw", "{{raw `latest_comment_content`}}", d, wfi.EscapeJSON, `Approved: "low risk" per CAB; certs in C:\partner\acme.`},
		{"upper of raw stays raw", "{{raw `attr.tags` | upper}}", d, wfi.EscapeHTML, "A<B"},
		{"json in JSON", "{{json .Attrs.tags}}|{{json `\"`}}", d, wfi.EscapeJSON, `a<b|\"`},
		{"json in HTML", "{{json `<\"x\">`}}", d, wfi.EscapeHTML, `&lt;\&#34;x\&#34;&gt;`},
		{"html in HTML", "{{html .Attrs.tags}}", d, wfi.EscapeHTML, "a&lt;b"},
		{"html in JSON", `{{html "\"a<b\""}}`, d, wfi.EscapeJSON, "&#34;a&lt;b&#34;"},
		{"urlquery in URL", "/x?q={{urlquery `a b/c`}}", d, wfi.EscapeURL, "/x?q=a+b%2Fc"},
		{"path segment", "/api/now/table/change_request/#correlation.sys_id#/#attr.tags#", d, wfi.EscapeURL, "/api/now/table/change_request/a1b2c3d4e5f60718293a4b5c6d7e8f90/a%3Cb"},
		{"default empty", "{{default `-1` (index .Attrs `nope`)}}", d, wfi.EscapeNone, "-1"},
		{"default set", "{{default `-1` .Attrs.snow_state}}", d, wfi.EscapeNone, "-2"},
		{"default piped", "{{index .Attrs `nope` | default `n/a`}}", d, wfi.EscapeNone, "n/a"},
		{"join", "{{join `, ` .Ticket.Comments}}", ticketData(t, `{"ticket": {"id": 1}}`), wfi.EscapeNone, ""},
		{"lower trim", "{{lower (trim `  ABC  `)}}", d, wfi.EscapeNone, "abc"},
		{"field", `{{field "Change Window"}}`, d, wfi.EscapeNone, "Weekend"},
		{"assignment prints nothing", "{{$id := ph `ticket_id`}}[{{$id}}]", d, wfi.EscapeNone, "[1002]"},
		{"now", "{{.Now.Year}}", d, wfi.EscapeNone, "2025"},
		{"trigger", "{{.Trigger.Ticket.CurrentStage.Name}}", bare, wfi.EscapeNone, "Implementation"},
		{"correlation", "{{.Correlation.number}}", d, wfi.EscapeNone, "CHG0030042"},
		{"define and template", "{{define `line`}}[#ticket_id#:{{.}}]{{end}}{{template `line` `a\"b`}}", d, wfi.EscapeJSON, `[1002:a\"b]`},
		{"trim markers", "a  {{- `x` -}}  b", d, wfi.EscapeNone, "axb"},
		{"placeholder in action string is literal", "{{`#ticket_id#`}}", d, wfi.EscapeNone, "#ticket_id#"},
		{"comment", "{{/* #nope# {{ }} */}}ok", d, wfi.EscapeNone, "ok"},
		{"brace before action", `{{{if true}}"a":1{{end}}}`, d, wfi.EscapeNone, `{"a":1}`},
		{"brace before placeholder", `{#ticket_id#}`, d, wfi.EscapeURL, `{1002}`},
		{"has: custom using a missing one", "{{if has `needs_missing`}}yes{{else}}no{{end}}", d, wfi.EscapeNone, "no"},
		{"has in custom", "{{if has `jira_summary`}}#jira_summary#{{end}}", d, wfi.EscapeNone, "SC-1002: Open HTTPS from the partner VPN to the API gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := render(t, tt.text, tt.d, tt.esc); got != tt.want {
				t.Errorf("%s\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

// TestNoDoubleEvaluation: values are pasted, never parsed: ticket data that
// looks like a placeholder or a Go template action stays literal text.
func TestNoDoubleEvaluation(t *testing.T) {
	t.Parallel()
	const evil = "Quote \" backslash \\ newline\nTab\t #ticket_id# ## {{.}} {{ph \"ticket_id\"}} {{template \"x\"}} </script> \u2028 end"
	ticket, err := json.Marshal(map[string]any{"ticket": map[string]any{
		"id": 4242, "subject": evil, "requester": evil,
		"comments":     map[string]any{"comment": []map[string]any{{"user": "#trigger_id#", "content": evil, "type": "normal"}}},
		"current_step": map[string]any{"id": 1, "name": evil},
		"steps": map[string]any{"step": map[string]any{"id": 1, "name": evil, "tasks": map[string]any{"task": map[string]any{
			"id": 2, "status": "ASSIGNED", "assignee": evil,
			"fields": map[string]any{"field": map[string]any{"@xsi.type": "text_area", "name": "Notes", "text": evil}}}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := securechange.DecodeTicket(ticket)
	if err != nil {
		t.Fatal(err)
	}
	d := &wfi.Data{
		Ticket:      &tk,
		Trigger:     events.TriggerEvent{ID: "trig-1", Event: events.Create, Ticket: events.TicketInfo{ID: "4242", Subject: evil}},
		Attrs:       map[string]string{"a": evil},
		Correlation: map[string]string{"c": evil},
		Result:      mustJSON(t, map[string]string{"r": evil}),
		Custom:      map[string]string{"cust": "<#ticket_subject#>"},
		Now:         fixedNow,
	}
	text := `{"subject": "#ticket_subject#", "requester": "#ticket_requester#", "step": "#step_name#", "assignee": "#assignee#",
	"notes": "#Notes#", "comments": "#ticket_comments#", "attr": "#attr.a#", "corr": "#correlation.c#", "result": "#result.r#",
	"custom": "#cust#", "go": "{{.Ticket.Subject}}", "range": "{{range .Ticket.Comments}}{{.Content}}{{end}}", "ph": "{{ph ` + "`ticket_subject`" + `}}"}`
	out := render(t, text, d, wfi.EscapeJSON)
	if !json.Valid([]byte(out)) {
		t.Fatalf("invalid JSON:\n%s", out)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"subject": evil, "requester": evil, "step": evil, "assignee": evil, "notes": evil,
		"comments": "#trigger_id#: " + evil, "attr": evil, "corr": evil, "result": evil,
		"custom": "<" + evil + ">", "go": evil, "range": evil, "ph": evil,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s:\n got %q\nwant %q", k, got[k], v)
		}
	}
	// The same in the other modes: the value comes out literally, escaped once.
	if got := render(t, "#ticket_subject#", d, wfi.EscapeNone); got != evil {
		t.Errorf("none: %q", got)
	}
	if got := render(t, "#ticket_subject#|{{.Ticket.Subject}}", d, wfi.EscapeHTML); !strings.Contains(got, "{{.}} {{ph &#34;ticket_id&#34;}}") || strings.Count(got, "&lt;/script&gt;") != 2 {
		t.Errorf("html: %q", got)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
