package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ccHead is the start of most cases: a valid ingress, one server and a route whose
// lines 6 and on each case writes.
const ccHead = "ingress: {users: [{name: m, password_env: TF_CC_PW}]}\n" + // 1
	"servers: {snow: {base_url: https://snow.example}}\n" + // 2
	"routes:\n" + // 3
	"  - name: r\n" + // 4
	"    on: {event: CREATE}\n" // 5

// ccCreate is a valid create that stores sys_id (on its own line: indent 6).
const ccCreate = "      - itsm: {server: snow, method: POST, path: /api, body: '{}', lookup: {path: /api, found: x}, response: {correlate: {sys_id: '#result.sys_id#'}}}\n"

// ccBody is a route (from line 6) whose one action posts body.
func ccBody(body string) string {
	return ccHead + "    actions:\n      - itsm: {server: snow, method: POST, path: /api, lookup: {path: /api, found: x}, body: '" + body + "'}\n"
}

// ccWhen is a route (from line 6) with a when condition and a valid action.
func ccWhen(when string) string {
	return ccHead + "    when: " + when + "\n    actions:\n" + ccCreate
}

type ccCase struct {
	name  string
	yaml  string
	files map[string]string // files next to the config
	args  []string          // flags before the file
	// want is every line config check writes to stderr but the count, in order; F is
	// the config file, D its directory. Empty: the file passes.
	want []string
}

var ccCases = []ccCase{
	// Route conditions, compiled as the dispatcher compiles them.
	{name: "when with = for ==", yaml: ccWhen(`ticket.id = "5001"`),
		want: []string{`F:6: routes[0].when: unexpected token Operator("=") (1:11): compare with ==`}},
	{name: "when cut short", yaml: ccWhen(`ticket.id ==`),
		want: []string{`F:6: routes[0].when: unexpected token EOF (1:12)`}},
	{name: "when with an unknown name", yaml: ccWhen(`tickt.id == 1`),
		want: []string{`F:6: routes[0].when: unknown name tickt (1:1): a condition can use event, workflow, enriched, ticket.*, step.* and trigger.*`}},
	{name: "when comparing a string with a number", yaml: ccWhen(`ticket.id == 1`),
		want: []string{`F:6: routes[0].when: invalid operation: == (mismatched types string and int) (1:11)`}},
	{name: "when that is not a boolean", yaml: ccWhen(`ticket.id`),
		want: []string{`F:6: routes[0].when: expected bool, but got string`}},
	{name: "when on two lines", yaml: ccWhen("|-\n      event == \"CREATE\" &&\n        ticket.fieldz[\"x\"] == \"\""),
		want: []string{`F:6: routes[0].when: type dispatcher.ticketEnv has no field fieldz (2:10)`}},
	{name: "when of the second route", yaml: ccWhen(`event == "CREATE"`) + "  - name: s\n    when: 'event ==== 1'\n    actions:\n" + ccCreate,
		want: []string{`F:10: routes[1].when: unexpected token Operator("==") (1:9)`}},

	// A response written back to SecureChange without SecureChange: nothing would consume it.
	{name: "response fields without securechange", yaml: ccHead + "    actions:\n      - itsm: {server: snow, method: POST, path: /api, body: '{}', lookup: {path: /api, found: x}, response: {fields: {ITSM Change: '#result.number#'}}}\n",
		want: []string{`F:7: routes[0].actions[0].itsm.response.fields: writes back to SecureChange, which needs securechange.url`}},

	// Templates: the action's line and the line in the template.
	{name: "template file cut short", yaml: ccHead + "    actions:\n      - itsm: {server: snow, method: POST, path: /api, lookup: {path: /api, found: x}, body_file: bad.json}\n",
		files: map[string]string{"bad.json": "{\"a\": \"#ticket_id#\",\n \"b\": \"{{if .Ticket}}\"}"},
		want:  []string{`F:7: routes[0].actions[0].itsm.body_file: D/bad.json:2: unexpected EOF`}},
	{name: "template in the yaml", yaml: ccBody(`{"a": "{{.Ticket.ID"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: line 1: bad character U+0022 '"'`}},
	{name: "email template", yaml: ccHead + "    actions:\n      - email: {to: [a@b.example], subject: 'x {{end}}', template: mail.txt}\n",
		files: map[string]string{"mail.txt": "Ticket #ticket_id#\n\n{{range .Ticket.Comments}}\n"},
		want: []string{
			`F:7: routes[0].actions[0].email.subject: line 1: unexpected {{end}}`,
			`F:7: routes[0].actions[0].email.template: D/mail.txt:4: unexpected EOF`,
			`F:7: warning: routes[0].actions[0].email: no smtp.host is configured: no notifier runs, and this email would be planned and wait, unsent, until one does`,
		}},
	{name: "template file missing", yaml: ccHead + "    actions:\n      - itsm: {server: snow, method: POST, path: /api, lookup: {path: /api, found: x}, body_file: none.json}\n",
		want: []string{`F:7: routes[0].actions[0].itsm.body_file: "D/none.json" cannot be read: no such file or directory`}},
	{name: "custom placeholder", yaml: ccWhen(`event == "CREATE"`) + "itsm_sync:\n  placeholders:\n    x: '{{if}}'\n",
		want: []string{`F:11: itsm_sync.placeholders.x: line 1: missing value for if`}},

	// Placeholders no source could provide.
	{name: "predefined name misspelt", yaml: ccBody(`{"a": "#tikcet_id#"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #tikcet_id#: not a predefined or custom placeholder (did you mean #ticket_id#?); a ticket field named so is written {{field "tikcet_id"}}`}},
	{name: "predefined name misspelt in ph", yaml: ccBody(`{"a": "{{ph "ticket_subjet"}}"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #ticket_subjet#: not a predefined or custom placeholder (did you mean #ticket_subject#?); a ticket field named so is written {{field "ticket_subjet"}}`}},
	{name: "a ticket_ name that is not predefined", yaml: ccBody(`{"a": "#ticket_owner_group#"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #ticket_owner_group#: not a predefined or custom placeholder; a ticket field named so is written {{field "ticket_owner_group"}}`}},
	{name: "ticket_url", yaml: ccBody(`{"a": "#ticket_url#"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #ticket_url#: WFI's ticket_url is not provided (nothing says under which address users reach SecureChange); define it in itsm_sync.placeholders`}},
	{name: "unknown namespace", yaml: ccBody(`{"a": "#corelation.sys_id#"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #corelation.sys_id#: corelation. is not a namespace (correlation., result., attr., trigger., callback.); a ticket field with a dot in its name is written {{field "corelation.sys_id"}}`}},
	{name: "when syntax in a placeholder", yaml: ccBody(`{"a": "#ticket.id#"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #ticket.id#: ticket. is not a namespace (correlation., result., attr., trigger., callback.); a ticket field with a dot in its name is written {{field "ticket.id"}}`}},
	{name: "correlation value nobody stores", yaml: ccHead + "    actions:\n" + ccCreate + "      - itsm: {server: snow, method: PATCH, path: '/api/#correlation.number#', body: '{}'}\n",
		want: []string{`F:8: routes[0].actions[1].itsm.path: #correlation.number#: no itsm action on server "snow" stores the correlation value "number" (response.correlate); correlation values are kept per ticket and server`}},
	{name: "correlation value of another server", yaml: strings.Replace(ccHead, "servers: {", "servers: {jira: {base_url: https://jira.example}, ", 1) + "    actions:\n" + ccCreate + "      - itsm: {server: jira, method: PATCH, path: '/api/#correlation.sys_id#', body: '{}'}\n",
		want: []string{`F:8: routes[0].actions[1].itsm.path: #correlation.sys_id#: no itsm action on server "jira" stores the correlation value "sys_id" (response.correlate); correlation values are kept per ticket and server`}},
	{name: "result outside a response mapping", yaml: ccBody(`{"a": "#result.number#"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #result.number#: result.<path> reads the response being mapped: only response.correlate and response.fields have one`}},
	{name: "attr the action does not set", yaml: ccBody(`{"a": "#attr.team#"}`),
		want: []string{`F:7: routes[0].actions[0].itsm.body: #attr.team#: the action sets no attr "team" (attrs) and no rewrite plugin (dispatcher.plugins) could`}},
	{name: "placeholder in a template file", yaml: ccHead + "    actions:\n      - itsm: {server: snow, method: POST, path: /api, lookup: {path: /api, found: x}, body_file: t.json}\n",
		files: map[string]string{"t.json": "{\"a\": \"#ticket_id#\",\n \"b\": \"#workflow_nmae#\"}\n"},
		want:  []string{`F:7: routes[0].actions[0].itsm.body_file: #workflow_nmae# in D/t.json: not a predefined or custom placeholder (did you mean #workflow_name#?); a ticket field named so is written {{field "workflow_nmae"}}`}},
	{name: "placeholder in a custom placeholder", yaml: ccWhen(`event == "CREATE"`) + "itsm_sync:\n  placeholders:\n    url: 'https://sc.example/?t=#tikcet_id#'\n",
		want: []string{`F:11: itsm_sync.placeholders.url: #tikcet_id#: not a predefined or custom placeholder (did you mean #ticket_id#?); a ticket field named so is written {{field "tikcet_id"}}`}},

	// Servers.
	{name: "unknown server", yaml: ccHead + "    actions:\n      - itsm: {server: snwo, method: POST, path: /api, body: '{}', lookup: {path: /api, found: x}}\n",
		want: []string{`F:7: routes[0].actions[0].itsm.server: "snwo" is not a configured server (servers: snow)`}},
	{name: "unknown server, reported once", yaml: ccHead + "    actions:\n" + strings.Replace(ccCreate, "server: snow", "server: snwo", 1) + "      - itsm: {server: snow, method: PATCH, path: '/api/#correlation.sys_id#', body: '{}'}\n",
		want: []string{`F:7: routes[0].actions[0].itsm.server: "snwo" is not a configured server (servers: snow)`}},
	{name: "server without an http URL", yaml: strings.Replace(ccWhen(`event == "CREATE"`), "https://snow.example", "ftp://snow.example", 1),
		want: []string{`F:2: servers.snow.base_url: "ftp://snow.example" is not an http(s) URL`}},

	// Secrets: one line each; --no-secrets leaves them out, not the file's own mistakes.
	{name: "secret not set", yaml: strings.Replace(ccWhen(`event == "CREATE"`), "TF_CC_PW", "TF_CC_MISSING", 1),
		want: []string{`F:1: ingress.users[0].password_env: environment variable TF_CC_MISSING is not set`}},
	{name: "secrets not set, --no-secrets", yaml: strings.Replace(ccWhen(`event == "CREATE"`), "TF_CC_PW", "TF_CC_MISSING", 1) + "securechange: {url: https://sc.example, user: u, password_file: /nonexistent/sc-password}\n",
		args: []string{"--no-secrets"}},
	{name: "secret file missing", yaml: ccWhen(`event == "CREATE"`) + "securechange: {url: https://sc.example, user: u, password_file: /nonexistent/sc-password}\n",
		want: []string{`F:9: securechange.password_file: read secret file: open /nonexistent/sc-password: no such file or directory`}},
	{name: "inline secret, --no-secrets", yaml: ccWhen(`event == "CREATE"`) + "securechange: {url: https://sc.example, user: u, password: hunter2}\n",
		args: []string{"--no-secrets"},
		want: []string{`F:9: securechange.password: inline secrets are not accepted; use securechange.password_env or securechange.password_file`}},

	// Tracing: the same checks, with key and line; header values are never printed.
	{name: "tracing", yaml: ccWhen(`event == "CREATE"`) + "tracing:\n  exporter: otlp\n  endpoint: http://otel:4318\n  sample_ratio: 2\n  headers:\n    Authorization: {value: Bearer hunter2}\n    X-Api-Key: {value_env: TF_CC_MISSING}\n",
		want: []string{
			`F:11: tracing.endpoint: "http://otel:4318" is plain http: set tracing.insecure: true to send spans unencrypted, or use https`,
			`F:12: tracing.sample_ratio: 2 is out of range (0 to 1)`,
			`F:14: tracing.headers.Authorization.value: inline secrets are not accepted; use value_env or value_file`,
			`F:15: tracing.headers.X-Api-Key.value_env: environment variable TF_CC_MISSING is not set`,
		}},
	{name: "tracing off with an endpoint", yaml: ccWhen(`event == "CREATE"`) + "tracing: {endpoint: 'https://otel:4318'}\n",
		want: []string{`F:9: warning: tracing.exporter: is none: tracing.endpoint and tracing.headers have no effect (set exporter: otlp)`}},

	// The file itself.
	{name: "empty file", yaml: "",
		want: []string{`F: the file is empty: it configures nothing (see examples/triggerflow.yaml)`}},
	{name: "only comments", yaml: "# triggerflow.yaml\n# to do\n",
		want: []string{`F: the file is empty: it configures nothing (see examples/triggerflow.yaml)`}},
	{name: "not YAML", yaml: "ingress: [\n",
		want: []string{`F:1: did not find expected node content`}},
	{name: "unknown key", yaml: ccWhen(`event == "CREATE"`) + "smtp: {hots: mail.example}\n",
		want: []string{`F:9: smtp.hots: not a known key (did you mean host?)`}},
	{name: "a part only the notifier uses", yaml: ccWhen(`event == "CREATE"`) + "smtp: {host: mail.example, from: a@b.example, tls_config: {ca_file: /nonexistent/ca.pem}}\n",
		want: []string{`F:9: smtp.tls_config.ca_file: "/nonexistent/ca.pem" cannot be read: no such file or directory`}},
	{name: "a bad on.args is reported once", yaml: strings.Replace(ccWhen(`event == "CREATE"`), "on: {event: CREATE}", "on: {event: CREATE, args: '('}", 1),
		want: []string{"F:5: routes[0].on.args: not a regular expression: error parsing regexp: missing closing ): `(`"}},

	// Everything at once, in line order, with the warnings (which do not count).
	{name: "several problems",
		yaml: "ingress: {users: [{name: m, password_env: TF_CC_MISSING}]}\n" + // 1
			"servers: {snow: {base_url: https://snow.example}}\n" + // 2
			"itsm_sync: {pull_batch: 4}\n" + // 3
			"routes:\n" + // 4
			"  - name: r\n" + // 5
			"    when: ticket.id = \"5001\"\n" + // 6
			"    on: {event: CREATE}\n" + // 7
			"    actions:\n" + // 8
			"      - itsm: {server: snwo, method: POST, path: /api, body_file: bad.json, lookup: {path: /api, found: x}}\n" + // 9
			"      - itsm: {server: snow, method: POST, path: /api, body: '{\"a\": \"#tikcet_id#\"}'}\n", // 10
		files: map[string]string{"bad.json": "{\n\"a\": \"{{.Ticket}\"\n}\n"},
		want: []string{
			`F:1: ingress.users[0].password_env: environment variable TF_CC_MISSING is not set`,
			`F:6: routes[0].when: unexpected token Operator("=") (1:11): compare with ==`,
			`F:9: routes[0].actions[0].itsm.server: "snwo" is not a configured server (servers: snow)`,
			`F:9: routes[0].actions[0].itsm.body_file: D/bad.json:2: bad character U+007D '}'`,
			`F:10: routes[0].actions[1].itsm.body: #tikcet_id#: not a predefined or custom placeholder (did you mean #ticket_id#?); a ticket field named so is written {{field "tikcet_id"}}`,
			`F:3: warning: itsm_sync.pull_batch: has no effect any more and can be removed: operations are performed in ordered lanes, one at a time per lane`,
			`F:10: warning: routes[0].actions[1].itsm: a create (POST /api) without a lookup: if a replica dies (kill -9, node lost) after the server accepted it but before it was recorded, it is sent again and the server gets a duplicate unless it honours the Idempotency-Key header; add lookup: {path: …, found: …} so a create whose outcome is unknown is looked up first (see README, "Unknown outcomes")`,
		}},

	// What is not a problem: ticket fields by their SecureChange names, names only
	// tested (has) or read as fields, namespaces with a source.
	{name: "placeholders with a source",
		yaml: ccHead + "    actions:\n" + ccCreate +
			"      - attrs: {team: net}\n" +
			"        itsm: {server: snow, method: PATCH, path: '/api/#correlation.sys_id#', response: {correlate: {n: '#result.number#'}},\n" +
			"          body: '{\"j\": \"#Business Justification#\", \"r\": \"#risk#\", \"t\": \"#trigger.anything#\", \"a\": \"#attr.team#\", \"f\": \"{{field \"ticket_x\"}}\", \"h\": \"{{if has \"tikcet_id\"}}x{{end}}\", \"c\": \"#sc_url#\"}'}\n" +
			"itsm_sync: {placeholders: {sc_url: 'https://sc.example/?t=#ticket_id#&x=#attr.whatever#'}}\n"},
	{name: "attrs from a rewrite plugin", yaml: ccBody(`{"a": "#attr.team#"}`) + "dispatcher: {plugins: [{name: p, command: [/bin/true]}]}\n"},
}

// writeCase writes a case's config and files into a new directory; it returns the
// config's path.
func writeCase(t *testing.T, tc ccCase) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range tc.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "triggerflow.yaml")
	if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkCaseOutput compares what config check printed with the case.
func checkCaseOutput(t *testing.T, tc ccCase, p string, code int, out, errOut string) {
	t.Helper()
	var want []string
	problems := 0
	for _, w := range tc.want {
		w = strings.ReplaceAll(w, "D/", filepath.Dir(p)+"/")
		if strings.HasPrefix(w, "F:") {
			w = p + w[1:]
		}
		want = append(want, w)
		if !strings.Contains(w, ": warning: ") {
			problems++
		}
	}
	if problems > 0 {
		want = append(want, p+": "+strconv.Itoa(problems)+" problem(s)")
	}
	got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if errOut == "" {
		got = nil
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantCode := 0
	if problems > 0 {
		wantCode = 1
	}
	if code != wantCode {
		t.Errorf("exit %d, want %d", code, wantCode)
	}
	if wantCode == 0 && out != p+": ok\n  note: nats.url is empty: each triggerflow process runs its own embedded nats-server (use `triggerflow all`, or give every `triggerflow <service>` process the same nats.url)\n" {
		t.Errorf("stdout %q", out)
	}
	if strings.Contains(errOut, "hunter2") {
		t.Error("a secret was printed")
	}
}

// TestConfigCheckTable: every problem of a file, in one run, one line each as
// FILE:LINE: key.path: problem (template problems also name the template's line),
// exit 1 when there is any; warnings are printed and do not fail.
func TestConfigCheckTable(t *testing.T) {
	t.Setenv("TF_CC_PW", "x")
	for _, tc := range ccCases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeCase(t, tc)
			code, out, errOut := runCLI(append(append([]string{"config", "check"}, tc.args...), p)...)
			checkCaseOutput(t, tc, p, code, out, errOut)
		})
	}
}

// TestServePrintsProblems: a command that cannot start prints the problems it has, one
// per line as config check does, and nothing of fx.
func TestServePrintsProblems(t *testing.T) {
	t.Setenv("TF_CC_PW", "x")
	var tc ccCase
	for _, c := range ccCases {
		if c.name == "several problems" {
			tc = c
		}
	}
	p := writeCase(t, tc)
	for _, cmd := range []string{"dispatcher", "all"} {
		code, _, errOut := runCLI(cmd, "--config", p)
		want := []string{
			p + ":1: ingress.users[0].password_env: environment variable TF_CC_MISSING is not set",
			p + `:6: routes[0].when: unexpected token Operator("=") (1:11): compare with ==`,
			p + `:9: routes[0].actions[0].itsm.server: "snwo" is not a configured server (servers: snow)`,
			p + ":9: routes[0].actions[0].itsm.body_file: " + filepath.Dir(p) + `/bad.json:2: bad character U+007D '}'`,
			p + `:10: routes[0].actions[1].itsm.body: #tikcet_id#: not a predefined or custom placeholder (did you mean #ticket_id#?); a ticket field named so is written {{field "tikcet_id"}}`,
		}
		if cmd == "dispatcher" {
			want = want[1:] // the ingress's users are not the dispatcher's business
		}
		want = append(want, "triggerflow "+cmd+": "+strconv.Itoa(len(want))+" problem(s) in "+p+"; not started")
		if got := strings.TrimSuffix(errOut, "\n"); code != 1 || got != strings.Join(want, "\n") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant:\n%s", cmd, code, got, strings.Join(want, "\n"))
		}
	}
}

// TestServeChecksWhatItUses: the ingress does not need smtp's CA file (config check
// does report it), and an error while the app is built is printed without fx's
// wrapping.
func TestServeChecksWhatItUses(t *testing.T) {
	t.Setenv("TF_CC_PW", "x")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String() // nothing listens there once closed
	l.Close()
	p := writeCase(t, ccCase{yaml: "nats: {url: 'nats://" + closed + "'}\n" +
		"ingress: {listen: '127.0.0.1:0', users: [{name: m, password_env: TF_CC_PW}]}\n" +
		"smtp: {host: mail.example, from: a@b.example, tls_config: {ca_file: /nonexistent/ca.pem}}\n"})

	code, _, errOut := runCLI("ingress", "--config", p)
	if code != 1 || strings.Contains(errOut, "smtp") || !strings.HasPrefix(errOut, "triggerflow ingress: connect to nats nats://"+closed) ||
		strings.Contains(errOut, "could not build") || strings.Contains(errOut, "fx.") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("ingress: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI("config", "check", p)
	if code != 1 || !strings.Contains(errOut, p+`:3: smtp.tls_config.ca_file: "/nonexistent/ca.pem" cannot be read`) {
		t.Errorf("config check: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI("notifier", "--config", p)
	if code != 1 || !strings.Contains(errOut, p+`:3: smtp.tls_config.ca_file: "/nonexistent/ca.pem" cannot be read`) || !strings.Contains(errOut, "not started") {
		t.Errorf("notifier: exit %d, stderr %q", code, errOut)
	}
}

// TestConfigCheckArguments: flags may follow the file; a second file is refused rather
// than left unchecked, as is a file given both as --config and as the argument.
func TestConfigCheckArguments(t *testing.T) {
	t.Setenv("TF_CC_PW", "x")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("ingress: {users: [{name: m, password_env: TF_CC_PW_UNSET}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("ingress: {publish_timeot: 5s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without --no-secrets the unset password variable is a problem; after the file,
	// --no-secrets is a flag like any other.
	if code, out, errOut := runCLI("config", "check", good, "--no-secrets"); code != 0 || !strings.Contains(out, good+": ok") {
		t.Errorf("config check FILE --no-secrets: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCLI("config", "check", good); code != 1 || !strings.Contains(errOut, "TF_CC_PW_UNSET") {
		t.Errorf("config check FILE with its secret unset: exit %d, stderr %q", code, errOut)
	}
	if code, out, errOut := runCLI("config", "check", "--no-secrets", good, bad); code != 2 || out != "" || !strings.Contains(errOut, "one file at a time, got 2: "+good+" "+bad) {
		t.Errorf("config check with two files: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := runCLI("config", "check", "--config", good, bad); code != 2 || out != "" || !strings.Contains(errOut, "two files, --config "+good+" and "+bad) {
		t.Errorf("config check --config A B: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCLI("config", "check", good, "--bogus"); code != 2 || !strings.Contains(errOut, "bogus") {
		t.Errorf("config check FILE --bogus: exit %d, stderr %q", code, errOut)
	}
}
