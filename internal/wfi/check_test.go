package wfi_test

import (
	"errors"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/wfi"
)

// TestCheckPlaceholder: what no source could ever provide is reported; what a source
// may provide (ticket fields by their SecureChange names included) is not.
func TestCheckPlaceholder(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{
		ITSMSync: config.ITSMSync{Placeholders: map[string]string{"sc_ticket_url": "x", "env": "prod"}},
		Servers:  map[string]config.Server{"snow": {}, "jira": {}},
		Routes: []config.Route{{Actions: []config.Action{{ITSM: &config.ITSMAction{Server: "snow",
			Response: config.ResponseMap{Correlate: map[string]string{"sys_id": "#result.sys_id#"}}}}}}},
	}
	itsm := wfi.Context{Server: "snow", Attrs: map[string]string{"team": "net"}}
	for _, tc := range []struct {
		name string
		ctx  wfi.Context
		bad  bool
	}{
		{"ticket_id", itsm, false},
		{"sc_ticket_url", itsm, false},
		{"Business Justification", itsm, false},
		{"risk", itsm, false},
		{"end", itsm, false}, // a field one edit from the custom "env": short names are not guessed at
		{"ITSM Change", itsm, false},
		{"trigger.current_stage.id", itsm, false},
		{"trigger.anything", itsm, false},
		{"correlation.sys_id", itsm, false},
		{"correlation.sys_id", wfi.Context{Server: "jira"}, true},
		{"correlation.sys_id", wfi.Context{}, false}, // not an itsm action: any server's
		{"correlation.number", wfi.Context{}, true},
		{"correlation.number", wfi.Context{Custom: true}, false},
		{"result.number", itsm, true},
		{"result.number", wfi.Context{Response: true}, false},
		{"attr.team", itsm, false},
		{"attr.owner", itsm, true},
		{"attr.owner", wfi.Context{Plugins: true}, false},
		{"attr.", itsm, true},
		{"tikcet_id", itsm, true},
		{"ticket_subjet", itsm, true},
		{"sc_ticket_ulr", itsm, true},
		{"ticket_url", itsm, true},
		{"ticket_anything", itsm, true},
		{"ticket.id", itsm, true},
		{"corelation.sys_id", itsm, true},
		{"Ticket.ID", itsm, false}, // not how a namespace is written: a field
	} {
		why := wfi.CheckPlaceholder(tc.name, cfg, tc.ctx)
		if (why != "") != tc.bad {
			t.Errorf("#%s# %+v: %q, want reported %v", tc.name, tc.ctx, why, tc.bad)
		}
	}
}

// TestCheckConfigProblems: each problem is a *config.Problem keyed by the template's
// path in the config, every one of them reported.
func TestCheckConfigProblems(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{Routes: []config.Route{{Actions: []config.Action{
		{ITSM: &config.ITSMAction{Server: "s", Path: "/x/#tikcet_id#", Body: "{{if}}", Headers: map[string]string{"X-A": "#attr.a#", "X-B": "#result.b#"}}},
		{Email: &config.EmailAction{Subject: "#ticket_subject# {{end}}"}},
	}}}}
	var got []string
	for _, e := range config.Leaves(wfi.CheckConfig(cfg)) {
		var p *config.Problem
		if !errors.As(e, &p) {
			t.Fatalf("not a *config.Problem: %v", e)
		}
		got = append(got, p.Path+": "+p.Msg)
	}
	want := []string{
		`routes[0].actions[0].itsm.path: #tikcet_id#: not a predefined or custom placeholder (did you mean #ticket_id#?); a ticket field named so is written {{field "tikcet_id"}}`,
		`routes[0].actions[0].itsm.body: line 1: missing value for if`,
		`routes[0].actions[0].itsm.headers.X-A: #attr.a#: the action sets no attr "a" (attrs) and no rewrite plugin (dispatcher.plugins) could`,
		`routes[0].actions[0].itsm.headers.X-B: #result.b#: result.<path> reads the response being mapped: only response.correlate and response.fields have one`,
		`routes[0].actions[1].email.subject: line 1: unexpected {{end}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems:\n%q\nwant %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
