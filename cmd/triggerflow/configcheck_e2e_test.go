package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckBinary: config check through the built binary (main, os.Exit): every
// problem of a file on its own line, exit 1; --no-secrets; an empty file.
func TestConfigCheckBinary(t *testing.T) {
	bin := triggerflowBinary(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("bad.json", "{\n\"a\": \"{{.Ticket}\"\n}\n")
	bad := write("bad.yaml", "ingress: {users: [{name: m, password_env: TF_CC_MISSING}]}\n"+
		"servers: {snow: {base_url: https://snow.example}}\n"+
		"routes:\n"+
		"  - name: r\n"+
		"    when: tickt.id == 1\n"+
		"    actions:\n"+
		"      - itsm: {server: snwo, method: POST, path: /api, body_file: bad.json, lookup: {path: /api, found: x}}\n")
	empty := write("empty.yaml", "")

	for _, tc := range []struct {
		args []string
		code int
		want string // stderr
	}{
		{[]string{bad}, 1, bad + ":1: ingress.users[0].password_env: environment variable TF_CC_MISSING is not set\n" +
			bad + ":5: routes[0].when: unknown name tickt (1:1): a condition can use event, workflow, enriched, ticket.*, step.* and trigger.*\n" +
			bad + ":7: routes[0].actions[0].itsm.server: \"snwo\" is not a configured server (servers: snow)\n" +
			bad + ":7: routes[0].actions[0].itsm.body_file: " + dir + "/bad.json:2: bad character U+007D '}'\n" +
			bad + ": 4 problem(s)\n"},
		{[]string{"--no-secrets", bad}, 1, bad + ":5: routes[0].when: unknown name tickt (1:1): a condition can use event, workflow, enriched, ticket.*, step.* and trigger.*\n" +
			bad + ":7: routes[0].actions[0].itsm.server: \"snwo\" is not a configured server (servers: snow)\n" +
			bad + ":7: routes[0].actions[0].itsm.body_file: " + dir + "/bad.json:2: bad character U+007D '}'\n" +
			bad + ": 3 problem(s)\n"},
		{[]string{empty}, 1, empty + ": the file is empty: it configures nothing (see examples/triggerflow.yaml)\n" + empty + ": 1 problem(s)\n"},
	} {
		cmd := exec.Command(bin, append([]string{"config", "check"}, tc.args...)...)
		var errOut strings.Builder
		cmd.Stderr = &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || errOut.String() != tc.want {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d:\n%s", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}
