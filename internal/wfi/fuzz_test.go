package wfi_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// fuzzData puts value wherever ticket data can reach a template.
func fuzzData(value string) *wfi.Data {
	bad := false
	tk := &securechange.Ticket{
		ID: "1", Subject: value, Requester: value, Status: value,
		Workflow:    securechange.Workflow{Name: value},
		CurrentStep: &securechange.StepRef{ID: "1", Name: value},
		Steps: []securechange.Step{{ID: "1", Name: value, Tasks: []securechange.Task{{ID: "2", Assignee: value, Status: "ASSIGNED",
			Fields: []securechange.Field{
				{Name: "F", Type: "text_area", Text: value},
				{Name: "A", Type: "approve_reject", Approved: &bad, Reason: value},
			}}}}},
		Comments: []securechange.Comment{{User: value, Content: value, Type: "redo"}},
	}
	result, _ := json.Marshal(map[string]string{"sys_id": value})
	return &wfi.Data{
		Trigger:     events.TriggerEvent{ID: "t", Event: events.Advance, Ticket: events.TicketInfo{ID: "1", Subject: value}},
		Ticket:      tk,
		Attrs:       map[string]string{"v": value},
		Correlation: map[string]string{"v": value},
		Result:      result,
		Custom:      map[string]string{"c": "[#ticket_subject#]", "loop": "#loop#", "v": value},
		Now:         fixedNow,
	}
}

// FuzzRender renders arbitrary template text with arbitrary ticket data, in
// every escape mode: no panic; an error is a template error; with no '#' nor
// '{', the text comes out unchanged; and a JSON template (text that is
// valid JSON) stays valid JSON when it renders in EscapeJSON, unless it
// asks for unescaped output (raw).
func FuzzRender(f *testing.F) {
	seeds := []string{
		"#ticket_id#", "##", "#123", "# heading", "{#ticket_subject#}", "{{{`x`}}}",
		`{"a": "#ticket_subject#", "b": "#F#", "c": "#c#"}`,
		`{"s": "{{.Ticket.Subject}}", "j": "{{json .Ticket.Subject}}"}`,
		`["{{", "}}"]`,
		`{"x": "{{if has "v"}}#v#{{end}}"}`,
		`{"r": "#result.sys_id#", "a": "#attr.v#", "k": "#correlation.v#", "e": "#reject_reason#"}`,
		"#loop#", "{{ph `nope`}}", "{{.Attrs.nope}}", "{{/* # */}}#redo_reason#",
	}
	if paths, _ := filepath.Glob(filepath.Join(examplesDir, "*.json")); len(paths) > 0 {
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				seeds = append(seeds, string(b))
			}
		}
	}
	for _, s := range seeds {
		f.Add(s, "plain")
		f.Add(s, "q\"b\\n\n#ticket_id# {{.}} \u2028 \xff")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		// Templates are trusted config; these let a template loop or
		// recurse for as long as it likes, which is no bug of ours.
		for _, w := range []string{"range", "template", "block"} {
			if strings.Contains(text, w) {
				return
			}
		}
		d := fuzzData(value)
		for _, esc := range []wfi.Escape{wfi.EscapeJSON, wfi.EscapeNone, wfi.EscapeHTML, wfi.EscapeURL} {
			tmpl, err := wfi.Parse("fuzz", text, esc)
			if err != nil {
				if !errors.Is(err, wfi.ErrTemplate) || !strings.HasPrefix(err.Error(), `template "fuzz": `) {
					t.Fatalf("parse error %q: not a named template error", err)
				}
				return
			}
			_ = tmpl.Placeholders()
			out, err := tmpl.Render(d)
			if err != nil {
				if !errors.Is(err, wfi.ErrTemplate) {
					t.Fatalf("render error %q does not wrap ErrTemplate", err)
				}
				continue
			}
			if !strings.ContainsAny(text, "#{") && string(out) != text {
				t.Fatalf("%v: text without # or { changed: %q -> %q", esc, text, out)
			}
			if esc == wfi.EscapeJSON && json.Valid([]byte(text)) && !strings.Contains(text, "raw") && !json.Valid(out) {
				t.Fatalf("valid JSON template rendered invalid JSON:\ntemplate %q\nvalue    %q\noutput   %q", text, value, out)
			}
		}
	})
}
