package examples_test

import (
	"cmp"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/configcheck"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
	"github.com/triggerflow/triggerflow/services/ingress"
)

// inboundCase is an example callback: the config and server it is posted to, what the
// ingress reads from it (its own id, ticket, record), the inbound routes it must trigger
// (exactly those, in order), and some of what their templates must render to
// ("<route>/<action>.<key>", as inboundTemplates names them).
type inboundCase struct {
	payload        string
	config, server string
	ticket, record string
	routes         []string
	want           map[string]string
}

var inboundCases = []inboundCase{{
	payload: "servicenow/approved.json", config: "servicenow.yaml", server: "servicenow",
	ticket: "1001", record: "9d1f1b6e47a0311062c6a3f1d16d43b2",
	routes: []string{"change-approved"},
	want: map[string]string{
		"change-approved/approve.securechange.approve": "Approved in ServiceNow CHG0031044 by Maria Lopez: CAB 2024-05-14: approved. Port 5432 only, from the web tier subnet.",
		"change-approved/approve.securechange.step":    "Approval",
	},
}, {
	payload: "servicenow/rejected.json", config: "servicenow.yaml", server: "servicenow",
	ticket: "1005", record: "2b7e3a9047e4311062c6a3f1d16d4310",
	routes: []string{"change-rejected"},
	want: map[string]string{
		"change-rejected/reject.securechange.reject": `Rejected in ServiceNow CHG0031047 by Tom Becker: Rejected: "any" to the data centre breaks policy NET-7. Ask for the hosts and ports you need.`,
	},
}, {
	payload: "servicenow/implemented.json", config: "servicenow.yaml", server: "servicenow",
	ticket: "1002", record: "f4a8c21d47e0311062c6a3f1d16d43c5",
	routes: []string{"change-implemented"},
	want: map[string]string{
		"change-implemented/implementation-notes.securechange.update_fields.Implementation Notes": "Rule 4711 added on fw-dc-01 (policy push 2024-05-15 22:10 UTC). Tested from 172.16.40.12: TLS handshake OK. (ServiceNow CHG0031039, closed by li.chen at 2024-05-15 22:31:08 UTC)",
		"change-implemented/complete-implementation.securechange.step":                            "Implementation",
	},
}, {
	payload: "servicenow/request_raised.json", config: "servicenow.yaml", server: "servicenow",
	ticket: "", record: "6e0c5b8147a4311062c6a3f1d16d43f1",
	routes: []string{"request-raised"},
	want: map[string]string{
		"request-raised/open-ticket.securechange.create.priority":                      "High",
		"request-raised/open-ticket.securechange.create.requester":                     "anna.schmidt",
		"request-raised/open-ticket.securechange.create.access_requests[0].services":   "tcp 1433\ntcp 1434",
		"request-raised/open-ticket.securechange.create.access_requests[0].sources":    "10.20.30.0/24, 10.20.31.15",
		"request-raised/open-ticket.securechange.create.correlate.sys_id":              "6e0c5b8147a4311062c6a3f1d16d43f1",
		"request-raised/write-back-ticket.itsm.path":                                   "/api/now/table/sc_req_item/6e0c5b8147a4311062c6a3f1d16d43f1",
		"request-raised/write-back-ticket.itsm.body":                                   `{"u_securechange_ticket": "1234", "work_notes": "SecureChange ticket 1234 opened by triggerflow for RITM0010042."}`,
		"request-raised/open-ticket.securechange.create.fields.Business Justification": "The new payroll batch (PRJ-2231) reads employee master data nightly.",
	},
}, {
	payload: "webhook/approved.json", config: "webhook-inbound.yaml", server: "itsm",
	ticket: "1001", record: "NET-4711",
	routes: []string{"status-changed", "approved"}, // every matching route acts
	want: map[string]string{
		"status-changed/itsm-status.securechange.update_fields.ITSM Status": "Approved",
		"approved/approve.securechange.approve":                             "Approved in NET-4711 by Maria Lopez: Approved by the network CAB on 2024-05-14: port 5432 from the web tier only.",
	},
}}

// newTicketID is the id the test gives a ticket created by a route, for the actions
// after the create (which act on the new ticket), and the ticket of a callback that
// names only its record (found through scw_correlation at run time).
const newTicketID = "1234"

// TestInboundExamples: each example callback, posted to its example config (which passes
// `config check`), is read as the ingress reads it, matches exactly the inbound routes it
// is written for, and every template of those routes' actions renders against it: every
// #callback.…# it uses has a value, JSON bodies stay JSON, steps are steps of the
// examples' workflow, priorities are SecureChange's.
func TestInboundExamples(t *testing.T) {
	setExampleSecrets(t)
	for _, tc := range inboundCases {
		t.Run(tc.payload, func(t *testing.T) {
			cfg, problems, err := configcheck.Check(tc.config)
			if err != nil {
				t.Fatalf("%s: %v", tc.config, err)
			}
			for _, p := range problems {
				t.Errorf("%s:%d: %v", tc.config, p.Line, p)
			}
			for _, w := range cfg.Warnings {
				t.Errorf("%s:%d: warning: %v", tc.config, w.Line, w)
			}
			if t.Failed() {
				t.FailNow()
			}
			body, err := os.ReadFile(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			cb := inboundEvent(t, cfg, tc.server, body)
			if cb.Ticket != tc.ticket || cb.Record == nil || cb.Record.Value != tc.record {
				t.Errorf("the ingress reads ticket %q, record %+v; want ticket %q, record %q", cb.Ticket, cb.Record, tc.ticket, tc.record)
			}

			all, err := dispatcher.CompileInboundRoutes(cfg.InboundRoutes)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := all.Match(cb)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.Name())
			}
			if !slices.Equal(got, tc.routes) {
				t.Fatalf("matches routes %q, want %q", got, tc.routes)
			}

			rendered := map[string]string{}
			for _, name := range got {
				r := inboundRoute(cfg, name)
				ticket := cmp.Or(cb.Ticket, newTicketID)
				for j, a := range r.Actions {
					d := &wfi.Data{Callback: body, Custom: cfg.ITSMSync.Placeholders, Now: time.Date(2024, 5, 16, 8, 0, 0, 0, time.UTC)}
					switch {
					case a.SecureChange != nil && a.SecureChange.Create != nil:
						// A create has no ticket yet; the actions after it act on the new one.
						ticket = newTicketID
					default:
						d.Trigger = events.TriggerEvent{Ticket: events.TicketInfo{ID: ticket}}
					}
					for _, tm := range inboundTemplates(t, a) {
						key := name + "/" + a.ActionName(j) + "." + tm.key
						out, err := wfi.Render(key, tm.text, d, tm.esc)
						if err != nil {
							t.Errorf("%s: %v", key, err)
							continue
						}
						checkRendered(t, key, string(out), tm.esc)
						rendered[key] = string(out)
					}
				}
			}
			for _, key := range sortedKeys(tc.want) {
				if got, ok := rendered[key]; !ok {
					t.Errorf("%s: not rendered (rendered: %q)", key, sortedKeys(rendered))
				} else if got != tc.want[key] {
					t.Errorf("%s:\n got %q\nwant %q", key, got, tc.want[key])
				}
			}
		})
	}
}

// TestInboundExamplesAreCovered: every callback example is a case of TestInboundExamples,
// and is one JSON object with its own event id, as an ITSM sends it.
func TestInboundExamplesAreCovered(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{}
	for _, tc := range inboundCases {
		cases[tc.payload] = true
	}
	var files []string
	for _, dir := range []string{"servicenow", "webhook"} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("%s: %v %v", dir, fs, err)
		}
		files = append(files, fs...)
	}
	ids := map[string]string{}
	for _, f := range files {
		f = filepath.ToSlash(f)
		if !cases[f] {
			t.Errorf("%s is not a case of TestInboundExamples", f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(b), "\ufeff") || strings.Contains(string(b), "\r") || !strings.HasSuffix(string(b), "}\n") {
			t.Errorf("%s: BOM, CR or no final newline", f)
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		id, _ := cmp.Or(obj["event_id"], obj["id"]).(string)
		if other, dup := ids[id]; id == "" || dup {
			t.Errorf("%s: event id %q (also in %s)", f, id, other)
		}
		ids[id] = f
	}
	if len(files) != len(inboundCases) {
		t.Errorf("%d callback examples, %d cases", len(files), len(inboundCases))
	}
}

// inboundEvent is the callback as the ingress stores it: its id, ticket and record read
// at the server's configured paths (ingress.DecodeCallback).
func inboundEvent(t *testing.T, cfg *config.Config, server string, body []byte) events.InboundEvent {
	t.Helper()
	in := cfg.Servers[server].Inbound
	if in == nil {
		t.Fatalf("servers.%s has no inbound", server)
	}
	c, err := ingress.DecodeCallback(body, ingress.CallbackPaths{ID: in.ID, Ticket: in.Ticket, Record: in.Record})
	if err != nil {
		t.Fatalf("the ingress refuses it: %v", err)
	}
	if c.ID == "" {
		t.Errorf("no callback id at %q: the ITSM's retries would be told apart by their bodies only", in.ID)
	}
	ev := events.InboundEvent{ID: events.InboundID(server, c.ID, body), Server: server, Ticket: c.Ticket, Body: body}
	if c.Record != "" {
		ev.Record = &events.InboundRecord{Key: in.RecordKey, Value: c.Record}
	}
	return ev
}

// inboundRoute is the configured inbound route called name.
func inboundRoute(cfg *config.Config, name string) config.InboundRoute {
	for _, r := range cfg.InboundRoutes {
		if r.Name == name {
			return r
		}
	}
	return config.InboundRoute{}
}

// actionTemplate is one template of an action: its key, text and escape mode (as
// wfi.CheckConfig and itsm-sync use them).
type actionTemplate struct {
	key, text string
	esc       wfi.Escape
}

// inboundTemplates lists the templates of an action of an inbound route.
func inboundTemplates(t *testing.T, a config.Action) []actionTemplate {
	t.Helper()
	var out []actionTemplate
	add := func(key, text string, esc wfi.Escape) {
		if text != "" {
			out = append(out, actionTemplate{key, text, esc})
		}
	}
	switch {
	case a.ITSM != nil:
		it := a.ITSM
		add("itsm.path", it.Path, wfi.EscapeURL)
		add("itsm.body", it.Body, wfi.EscapeJSON)
		if it.BodyFile != "" {
			b, err := os.ReadFile(it.BodyFile)
			if err != nil {
				t.Fatal(err)
			}
			add("itsm.body_file", string(b), wfi.EscapeJSON)
		}
		for _, h := range sortedKeys(it.Headers) {
			add("itsm.headers."+h, it.Headers[h], wfi.EscapeNone)
		}
	case a.SecureChange != nil:
		sc := a.SecureChange
		for _, f := range sortedKeys(sc.UpdateFields) {
			add("securechange.update_fields."+f, sc.UpdateFields[f], wfi.EscapeNone)
		}
		for _, kv := range [][2]string{{"approve", sc.Approve}, {"reject", sc.Reject}, {"redo", sc.Redo}, {"comment", sc.Comment}, {"reject_ticket", sc.RejectTicket}, {"step", sc.Step}} {
			add("securechange."+kv[0], kv[1], wfi.EscapeNone)
		}
		if cr := sc.Create; cr != nil {
			p := "securechange.create."
			for _, kv := range [][2]string{{"workflow", cr.Workflow}, {"subject", cr.Subject}, {"requester", cr.Requester}, {"priority", cr.Priority}} {
				add(p+kv[0], kv[1], wfi.EscapeNone)
			}
			for _, f := range sortedKeys(cr.Fields) {
				add(p+"fields."+f, cr.Fields[f], wfi.EscapeNone)
			}
			for _, f := range sortedKeys(cr.Correlate) {
				add(p+"correlate."+f, cr.Correlate[f], wfi.EscapeNone)
			}
			for i, row := range cr.AccessRequests {
				rp := p + "access_requests[" + strconv.Itoa(i) + "]."
				for _, kv := range [][2]string{{"sources", row.Sources}, {"destinations", row.Destinations}, {"services", row.Services}, {"action", row.Action}, {"comment", row.Comment}} {
					add(rp+kv[0], kv[1], wfi.EscapeNone)
				}
			}
		}
	case a.Email != nil:
		add("email.subject", a.Email.Subject, wfi.EscapeNone)
	}
	return out
}

// checkRendered checks what a template rendered to: not empty, JSON where it is sent as
// JSON, a step of the examples' workflow, one of SecureChange's priorities.
func checkRendered(t *testing.T, key, out string, esc wfi.Escape) {
	t.Helper()
	if strings.TrimSpace(out) == "" {
		t.Errorf("%s renders empty", key)
	}
	switch {
	case esc == wfi.EscapeJSON && !json.Valid([]byte(out)):
		t.Errorf("%s renders invalid JSON:\n%s", key, out)
	case strings.HasSuffix(key, ".securechange.step"):
		stages := make([]string, 0, len(workflowStages))
		for _, s := range workflowStages {
			stages = append(stages, s)
		}
		if !slices.Contains(stages, out) {
			t.Errorf("%s = %q: not a step of the Access Request workflow", key, out)
		}
	case strings.HasSuffix(key, ".create.priority"):
		if !slices.Contains([]string{"Low", "Normal", "High", "Critical"}, out) {
			t.Errorf("%s = %q: not Low, Normal, High or Critical", key, out)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// TestServiceNowBusinessRuleSendsThePayloads: the business rule sends every top-level
// field of the ServiceNow examples (as `payload.<field> =` or `<field>:`), signed in the
// headers servicenow.yaml's endpoint checks, so that a field a route starts to use is
// added to the rule as well as to the example.
func TestServiceNowBusinessRuleSendsThePayloads(t *testing.T) {
	setExampleSecrets(t)
	js, err := os.ReadFile(filepath.Join("servicenow", "business_rule.js"))
	if err != nil {
		t.Fatal(err)
	}
	rule := string(js)
	cfg, _, err := configcheck.Check("servicenow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Servers["servicenow"].Inbound.Auth.HMAC
	for _, header := range []string{h.SignatureHeader, h.TimestampHeader} {
		if !strings.Contains(rule, "'"+header+"'") {
			t.Errorf("business_rule.js does not set %s", header)
		}
	}
	files, _ := filepath.Glob(filepath.Join("servicenow", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, k := range sortedKeys(obj) {
			if !strings.Contains(rule, "payload."+k+" = ") && !strings.Contains(rule, "\n            "+k+": ") {
				t.Errorf("%s: business_rule.js does not send %q", f, k)
			}
		}
	}
}
