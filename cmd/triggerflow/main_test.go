package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/app"
	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/services/ingress"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpOnEveryCommand: --help (and -h, -help) prints the usage once, on stdout, and
// exits 0; a bad flag prints it on stderr and exits 2.
func TestHelpOnEveryCommand(t *testing.T) {
	commands := [][]string{{}, {"all"}, {"ingress"}, {"dispatcher"}, {"itsm-sync"}, {"notifier"}, {"version"}, {"demo-sink"}, {"trace"}, {"redrive"}, {"config"}}
	for _, cmd := range commands {
		for _, h := range []string{"--help", "-h", "-help"} {
			if len(cmd) > 0 && cmd[0] == "config" && h == "-help" {
				continue // config takes --help and -h only
			}
			args := append(append([]string{}, cmd...), h)
			code, out, errOut := runCLI(args...)
			if code != 0 || strings.Count(out, "Usage") != 1 || errOut != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	}
	if code, _, errOut := runCLI("help"); code != 0 || errOut != "" {
		t.Errorf("help: exit %d, stderr %q", code, errOut)
	}
	for _, h := range []string{"--help", "-h", "-help"} {
		if code, out, errOut := runCLI("config", "check", h); code != 0 || strings.Count(out, "Usage") != 1 || errOut != "" {
			t.Errorf("config check %s: exit %d, stdout %q, stderr %q", h, code, out, errOut)
		}
	}
	for _, cmd := range []string{"all", "ingress", "dispatcher", "itsm-sync", "notifier", "demo-sink", "trace", "redrive"} {
		code, out, errOut := runCLI(cmd, "--bogus")
		if code != 2 || out != "" || !strings.Contains(errOut, "flag provided but not defined: -bogus") || strings.Count(errOut, "Usage") != 1 {
			t.Errorf("%s --bogus: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("log:\n  level: loud\ningress:\n  users:\n    - name: a\n      password: hunter2\n  lisen: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("config", "check", bad)
	if code != 1 {
		t.Fatalf("exit %d for a bad file", code)
	}
	for _, want := range []string{
		bad + ":7: ingress.lisen: not a known key (did you mean listen?)",
		bad + ":2: log.level: \"loud\" is not one of debug, info, warn, error",
		bad + ":6: ingress.users[0].password: inline secrets are not accepted",
		"3 problem(s)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "hunter2") {
		t.Fatal("config check printed a secret")
	}

	t.Setenv("TRIGGERFLOW_MEDIATOR_PASSWORD", "x")
	code, out, errOut := runCLI("config", "check", "../../examples/triggerflow.yaml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("example: exit %d %q %q", code, out, errOut)
	}
	t.Setenv("TRIGGERFLOW_CONFIG", "../../examples/triggerflow.yaml")
	if code, _, errOut := runCLI("config", "check"); code != 0 {
		t.Fatalf("TRIGGERFLOW_CONFIG not used: %s", errOut)
	}
	if code, _, errOut := runCLI("config", "check", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("missing file: %d %s", code, errOut)
	}
}

// TestConfigCheckBadTemplate: a template with a syntax error fails the check, naming
// the route and the file. (The example configs pass: examples/configs_test.go.)
func TestConfigCheckBadTemplate(t *testing.T) {
	t.Setenv("TRIGGERFLOW_MEDIATOR_PASSWORD", "x")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"a":"{{if}}"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "ingress: {users: [{name: m, password_env: TRIGGERFLOW_MEDIATOR_PASSWORD}]}\nservers: {s: {base_url: https://s.example}}\n" +
		"routes:\n  - name: broken\n    on: {event: CREATE}\n    actions:\n      - itsm: {server: s, method: POST, path: /x, body_file: bad.json}\n"
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI("config", "check", p); code != 1 || !strings.Contains(errOut, "routes[0].actions[0].itsm.body_file") || !strings.Contains(errOut, "bad.json:1:") {
		t.Fatalf("bad template: exit %d %q", code, errOut)
	}
}

// TestConfigCheckWarnsAboutCreatesWithoutLookup: a create with no lookup passes the
// check (exit 0) with a warning on its line that explains the kill -9 window and the fix.
func TestConfigCheckWarnsAboutCreatesWithoutLookup(t *testing.T) {
	t.Setenv("TRIGGERFLOW_MEDIATOR_PASSWORD", "x")
	p := filepath.Join(t.TempDir(), "c.yaml")
	cfg := "ingress: {users: [{name: m, password_env: TRIGGERFLOW_MEDIATOR_PASSWORD}]}\nservers: {s: {base_url: https://s.example}}\n" +
		"itsm_sync: {pull_batch: 2}\n" +
		"routes:\n  - name: open\n    on: {event: CREATE}\n    actions:\n      - itsm: {server: s, method: POST, path: /api/records, body: '{}', response: {correlate: {id: '#result.id#'}}}\n" +
		"      - itsm: {server: s, method: PATCH, path: '/api/records/#correlation.id#', body: '{}'}\n"
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("config", "check", p)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("exit %d %q %q", code, out, errOut)
	}
	for _, want := range []string{
		p + ":3: warning: itsm_sync.pull_batch: has no effect any more",
		p + ":8: warning: routes[0].actions[0].itsm: a create (POST /api/records) without a lookup",
		"kill -9", "Idempotency-Key", "add lookup",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "warning:"); n != 2 {
		t.Errorf("%d warnings, want 2 (the update names its record):\n%s", n, errOut)
	}
}

// TestServeRefusesBadConfig: a bad config fails before anything listens, naming the key.
func TestServeRefusesBadConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("ingress:\n  rejections: sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("ingress", "--config", p)
	if code != 1 || !strings.Contains(errOut, "ingress.rejections") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestIngressRefusesNoUsers: without users the ingress does not start unless --dev.
func TestIngressRefusesNoUsers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	y := "nats:\n  embedded: {port: -1, store_dir: " + filepath.Join(t.TempDir(), "js") + "}\ningress:\n  listen: 127.0.0.1:0\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("ingress", "--config", p)
	if code != 1 || !strings.Contains(errOut, "refusing to accept triggers without credentials") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestAppGraphs validates the fx graph of each command without starting anything.
func TestAppGraphs(t *testing.T) {
	for _, name := range []string{"all", "ingress", "dispatcher"} {
		cfg := config.Default()
		if err := fx.ValidateApp(append(app.Options(name, cfg, ingress.Options{}), fx.NopLogger)...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestFlagsWhereTheyApply: a command lists, and accepts, only the flags that apply to it.
func TestFlagsWhereTheyApply(t *testing.T) {
	for cmd, want := range map[string][]string{
		"all":        {"-config", "-dev", "-listen"},
		"ingress":    {"-config", "-dev", "-listen"},
		"dispatcher": {"-admin-listen", "-config"},
		"itsm-sync":  {"-admin-listen", "-config"},
		"notifier":   {"-admin-listen", "-config"},
	} {
		_, out, _ := runCLI(cmd, "--help")
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "  -") {
				got = append(got, strings.Fields(l)[0])
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s lists flags %v, want %v", cmd, got, want)
		}
		if !slices.Contains(want, "-dev") {
			if code, _, errOut := runCLI(cmd, "--dev"); code != 2 || !strings.Contains(errOut, "flag provided but not defined: -dev") {
				t.Errorf("%s --dev: exit %d %q", cmd, code, errOut)
			}
		}
	}
}
