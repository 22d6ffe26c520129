package wfi_test

import (
	"errors"
	"html"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/wfi"
)

// grammarData resolves a few names through custom placeholders, so the
// grammar tests need no ticket.
func grammarData() *wfi.Data {
	return &wfi.Data{Custom: map[string]string{
		"x":                      "X",
		"_x":                     "UX",
		"a b":                    "AB",
		"n.1-2:3":                "N",
		"Begründung":             "B",
		strings.Repeat("y", 128): "Y128",
		strings.Repeat("y", 129): "Y129",
	}}
}

func TestPlaceholderGrammar(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"#x#", "X"},
		{"a #x# b", "a X b"},
		{"#x##x#", "XX"},
		{"#x###x#", "X#x#"},
		{"##", "#"},
		{"###", "##"},
		{"##x#", "#x#"},
		{"#x##", "X#"},
		{"####", "##"},
		{"#", "#"},
		{"a # b", "a # b"},
		{"#123", "#123"},
		{"#123#", "#123#"},
		{"#1x#", "#1x#"},
		{"# heading", "# heading"},
		{"# x#", "# x#"},
		{"#x #", "#x #"},
		{"#x", "#x"},
		{"x#", "x#"},
		{"#x\n#", "#x\n#"},
		{"color:#fff; border:#000", "color:#fff; border:#000"},
		{`<a href="#top">`, `<a href="#top">`},
		{"C# and F# are languages", "C# and F# are languages"},
		{"Issue #5 and #6", "Issue #5 and #6"},
		{"#_x#", "UX"},
		{"#a b#", "AB"},
		{"#n.1-2:3#", "N"},
		{"#Begründung#", "B"},
		{"#" + strings.Repeat("y", 128) + "#", "Y128"},
		{"#" + strings.Repeat("y", 129) + "#", "#" + strings.Repeat("y", 129) + "#"},
		{"#x/y#", "#x/y#"},
		{"#x\"#", "#x\"#"},
		{"{#x#}", "{X}"},
		{"{{{`#x#`}}}", "{#x#}"},
		{"#x#{{/* #x# }} */}}#x#", "XX"},
		{`{{"#x#"}}`, "#x#"},
		{"{{`}}`}}#x#", "}}X"},
		{"", ""},
		{"no placeholders at all", "no placeholders at all"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := render(t, tt.in, grammarData(), wfi.EscapeNone); got != tt.want {
				t.Errorf("render(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEscapeModes(t *testing.T) {
	t.Parallel()
	const v = "a\"b\\c <d> & 'e' f/g?h=i#j\n\tk\u2028é\x01"
	d := &wfi.Data{Attrs: map[string]string{"v": v}}
	tests := []struct {
		esc  wfi.Escape
		want string
	}{
		{wfi.EscapeJSON, `a\"b\\c <d> & 'e' f/g?h=i#j\n\tk\u2028é\u0001`},
		{wfi.EscapeNone, v},
		{wfi.EscapeHTML, html.EscapeString(v)},
		{wfi.EscapeURL, url.PathEscape(v)},
	}
	for _, tt := range tests {
		t.Run(tt.esc.String(), func(t *testing.T) {
			t.Parallel()
			if got := render(t, "#attr.v#", d, tt.esc); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// Go template output is escaped the same way.
			if got := render(t, "{{.Attrs.v}}", d, tt.esc); got != tt.want {
				t.Errorf("{{.Attrs.v}}: got %q, want %q", got, tt.want)
			}
			// Literal text is never escaped.
			if got := render(t, `<"&'>`, d, tt.esc); got != `<"&'>` {
				t.Errorf("literal text: got %q", got)
			}
		})
	}
}

func TestEscapeJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"", "plain", `"quoted"`, `back\slash`, "\b\f\n\r\t", "\x00\x1f\x7f", "<script>&amp;</script>",
		"\u2028\u2029", "héllo wörld ✓ 😀", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate",
	} {
		d := &wfi.Data{Attrs: map[string]string{"v": v}}
		if got, want := render(t, "#attr.v#", d, wfi.EscapeJSON), jsonContent(t, v); got != want {
			t.Errorf("%q: got %q, want %q (encoding/json)", v, got, want)
		}
	}
}

func TestParseEscape(t *testing.T) {
	t.Parallel()
	for _, e := range []wfi.Escape{wfi.EscapeJSON, wfi.EscapeNone, wfi.EscapeHTML, wfi.EscapeURL} {
		got, err := wfi.ParseEscape(e.String())
		if err != nil || got != e {
			t.Errorf("ParseEscape(%q) = %v, %v", e.String(), got, err)
		}
	}
	if _, err := wfi.ParseEscape("xml"); err == nil {
		t.Error("ParseEscape(xml): want an error")
	}
	if _, err := wfi.Parse("t", "x", wfi.Escape(9)); err == nil {
		t.Error("Parse with Escape(9): want an error")
	}
}

func TestMissingError(t *testing.T) {
	t.Parallel()
	d := fixture(t, "advance", true)
	err := renderErr(t, "snow-create.json", `{"u_change": "#ITSM Change Number#"}`, d, wfi.EscapeJSON)
	const want = `template "snow-create.json": placeholder #ITSM Change Number# is not defined (not a predefined placeholder, ticket field or custom placeholder)`
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
	if !errors.Is(err, wfi.ErrMissing) {
		t.Error("errors.Is(err, ErrMissing) = false")
	}
	var me *wfi.MissingError
	if !errors.As(err, &me) || me.Template != "snow-create.json" || me.Name != "ITSM Change Number" {
		t.Errorf("errors.As: %+v", me)
	}

	tests := []struct {
		name, text string
		d          *wfi.Data
		want       string // substring of the message
	}{
		{"no ticket field", "#Risk#", fixture(t, "advance", false), "#Risk# is not defined (not a predefined placeholder, ticket field or custom placeholder; the trigger was not enriched"},
		{"needs ticket", "#workflow_name#", fixture(t, "advance", false), "#workflow_name# is not defined (a predefined placeholder that needs the enriched ticket"},
		{"email", "#ticket_requester_email#", d, "#ticket_requester_email# is not defined (a predefined placeholder that has no value"},
		{"correlation", "#correlation.incident#", d, `no correlation value "incident" is stored`},
		{"attr", "#attr.state#", d, `the operation has no attr "state"`},
		{"no result", "#result.sys_id#", d, "there is no response body to map"},
		{"trigger", "#trigger.nope#", d, `the trigger has no "nope"`},
		{"ph", `{{ph "nope"}}`, d, "#nope# is not defined"},
		{"raw", `{{raw "nope"}}`, d, "#nope# is not defined"},
		{"field", `{{field "ticket_id"}}`, d, "#ticket_id# is not defined (field: the ticket has no field of that name)"},
		{"field without ticket", `{{field "Risk"}}`, fixture(t, "advance", false), "field: the trigger was not enriched"},
		{"in custom", "#c#", &wfi.Data{Custom: map[string]string{"c": "#b#", "b": "x #nope# y"}},
			`template "t.json": placeholder #nope# (used by custom placeholder #c# in #b#) is not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := renderErr(t, "t.json", tt.text, tt.d, wfi.EscapeJSON)
			if !errors.Is(err, wfi.ErrMissing) {
				t.Errorf("%v: not ErrMissing", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), `template "t.json": `) {
				t.Errorf("message %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestResultMissing(t *testing.T) {
	t.Parallel()
	d := &wfi.Data{Result: []byte(`{"result": {"sys_id": "abc"}}`)}
	err := renderErr(t, "map", "#result.number#", d, wfi.EscapeNone)
	if !strings.Contains(err.Error(), `the response has nothing at "number"`) {
		t.Error(err)
	}
	d.Result = []byte(`<html>busy</html>`)
	err = renderErr(t, "map", "#result.number#", d, wfi.EscapeNone)
	if !strings.Contains(err.Error(), "the response body is not JSON") {
		t.Error(err)
	}
}

func TestTemplateErrorsNameTheTemplate(t *testing.T) {
	t.Parallel()
	d := fixture(t, "advance", false)
	tests := []struct {
		name, text, want string
	}{
		{"parse", "{\n  \"a\": \"{{if}}\"\n}", `template "bad.json": line 2: missing value for if`},
		{"unclosed action", "line one\n{{ph \"x\"", `template "bad.json": line 2: unclosed action`},
		{"unknown function", "{{nope 1}}", `template "bad.json": line 1: function "nope" not defined`},
		{"unclosed if", "#ticket_id#\n{{if true}}x", `template "bad.json": line 2: unexpected EOF`},
		{"nil ticket", "x\n\n{{.Ticket.Subject}}", `template "bad.json": line 3:`},
		{"missing key", "{{.Attrs.state}}", `template "bad.json": line 1:`},
		{"no such field", "{{.Nope}}", `template "bad.json": line 1:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := renderErr(t, "bad.json", tt.text, d, wfi.EscapeJSON)
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("message %q\nwant prefix  %q", err, tt.want)
			}
			if errors.Is(err, wfi.ErrMissing) {
				t.Errorf("%v: a syntax or execution error is not ErrMissing", err)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	t.Parallel()
	text := "{\"a\": \"#ticket_id#\", \"b\": \"{{ph `correlation.sys_id`}}\", " +
		"\"c\": \"{{if has `ITSM Change`}}{{raw `x y`}}{{end}}\", \"d\": \"{{field `Risk` | upper}}\", " +
		"\"e\": \"{{`piped` | ph}}\", \"f\": \"#ticket_id# ## #123 {{ph (printf `%s` `computed`)}}\", " +
		"\"g\": \"{{with .Ticket}}{{range .Comments}}#trigger.event#{{end}}{{end}}\"}{{define `sub`}}#in_define#{{end}}"
	tmpl, err := wfi.Parse("p.json", text, wfi.EscapeJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ticket_id", "correlation.sys_id", "ITSM Change", "x y", "Risk", "piped", "trigger.event", "in_define"}
	if got := tmpl.Placeholders(); !reflect.DeepEqual(got, want) {
		t.Errorf("Placeholders() =\n %q\nwant\n %q", got, want)
	}
	got := tmpl.Placeholders()
	got[0] = "changed"
	if tmpl.Placeholders()[0] != "ticket_id" {
		t.Error("Placeholders returns the template's own slice")
	}
	if tmpl.Name() != "p.json" || tmpl.Escape() != wfi.EscapeJSON {
		t.Errorf("Name, Escape = %q, %v", tmpl.Name(), tmpl.Escape())
	}
}

func TestAllPlaceholders(t *testing.T) {
	t.Parallel()
	tmpl, err := wfi.Parse("p", "#a# {{ph `path`}} #a# #x#", wfi.EscapeURL)
	if err != nil {
		t.Fatal(err)
	}
	custom := map[string]string{
		"path":  "/api/now/table/change_request/#correlation.sys_id#/#inner#",
		"inner": "{{if has `correlation.number`}}#path#{{end}}", // a cycle ends the walk
		"x":     "{{if}}",                                       // does not parse: adds nothing
	}
	want := []string{"a", "path", "correlation.sys_id", "inner", "correlation.number", "x"}
	if got := tmpl.AllPlaceholders(custom); !reflect.DeepEqual(got, want) {
		t.Errorf("AllPlaceholders = %q, want %q", got, want)
	}
	if got := tmpl.AllPlaceholders(nil); !reflect.DeepEqual(got, tmpl.Placeholders()) {
		t.Errorf("AllPlaceholders(nil) = %q", got)
	}
}

func TestEmptyTemplates(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "{{define `x`}}#nope#{{end}}", "{{/* nothing */}}"} {
		if got := render(t, text, nil, wfi.EscapeJSON); got != "" {
			t.Errorf("%q: got %q", text, got)
		}
	}
}

func TestConcurrentRender(t *testing.T) {
	t.Parallel()
	tmpl, err := wfi.Parse("c.json", `{"s": "#ticket_subject#", "c": "{{len .Ticket.Comments}}", "j": "#jira_summary#"}`, wfi.EscapeJSON)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fixture(t, "advance", true), fixture(t, "reject", true)
	wantA, _ := tmpl.Render(a)
	wantB, _ := tmpl.Render(b)
	done := make(chan error)
	for i := range 8 {
		go func() {
			d, want := a, wantA
			if i%2 == 1 {
				d, want = b, wantB
			}
			for range 200 {
				got, err := tmpl.Render(d)
				if err != nil || string(got) != string(want) {
					done <- errors.New("concurrent render: " + string(got))
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
