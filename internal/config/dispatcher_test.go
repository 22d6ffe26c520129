package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestSecureChangeProblems checks the rules of securechange (what securechange.New
// builds on): each problem with its line, key path and message, and no secret in any
// message.
func TestSecureChangeProblems(t *testing.T) {
	t.Setenv("TF_SC_PW", "hunter2")
	t.Setenv("TF_SC_USER_COLON", "a:b")
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	cert, key := writeFile(t, "cert.pem", "not a certificate"), writeFile(t, "key.pem", "not a key")
	const url = "  url: https://sc.example/securechangeworkflow/api/securechange\n"
	const creds = "  user: tf\n  password_env: TF_SC_PW\n"
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"valid", "securechange:\n" + url + creds, nil},
		{"credentials in url", "securechange:\n  url: https://admin:hunter2@sc.example/api\n" + creds,
			[]string{"2 securechange.url: must not hold credentials (user:password@): secrets are never inline; use securechange.user and securechange.password_env or securechange.password_file"}},
		{"url with credentials that does not parse", "securechange:\n  url: \"https://admin:hunter2@sc example/api\"\n" + creds,
			[]string{"2 securechange.url: \"https://[REDACTED]@sc example/api\" is not an http(s) URL"}},
		{"not http", "securechange:\n  url: ftp://sc.example\n" + creds, []string{"2 securechange.url: \"ftp://sc.example\" is not an http(s) URL"}},
		{"no host", "securechange:\n  url: https:///x\n" + creds, []string{"2 securechange.url: \"https:///x\" is not an http(s) URL"}},
		{"query and fragment", "securechange:\n  url: https://sc.example/api?x=1#y\n" + creds,
			[]string{"2 securechange.url: \"https://sc.example/api?x=1#y\" must not hold a query or fragment"}},
		{"no user", "securechange:\n" + url + "  password_env: TF_SC_PW\n", []string{"1 securechange.user: is required (or user_env)"}},
		{"colon in user", "securechange:\n" + url + "  user: \"a:b\"\n  password_env: TF_SC_PW\n",
			[]string{"3 securechange.user: \"a:b\" must not contain ':' or line breaks (HTTP basic auth)"}},
		{"colon in user_env's value", "securechange:\n" + url + "  user_env: TF_SC_USER_COLON\n  password_env: TF_SC_PW\n",
			[]string{"3 securechange.user_env: the value of environment variable TF_SC_USER_COLON must not contain ':'"}},
		{"user env unset", "securechange:\n" + url + "  user_env: TF_SC_UNSET\n  password_env: TF_SC_PW\n",
			[]string{"3 securechange.user_env: environment variable TF_SC_UNSET is not set"}},
		{"user twice", "securechange:\n" + url + "  user: tf\n  user_env: TF_SC_UNSET\n  password_env: TF_SC_PW\n",
			[]string{"3 securechange.user: set user or user_env, not both"}},
		{"no password", "securechange:\n" + url + "  user: tf\n", []string{"1 securechange.password_env: is required (or password_file)"}},
		{"inline password", "securechange:\n" + url + "  user: tf\n  password: hunter2\n", []string{"4 securechange.password: inline secrets are not accepted"}},
		{"password file missing", "securechange:\n" + url + "  user: tf\n  password_file: /nonexistent/pw\n",
			[]string{"4 securechange.password_file: read secret file"}},
		{"ca file missing", "securechange:\n" + url + creds + "  tls: {ca_file: /nonexistent/ca.pem}\n",
			[]string{"5 securechange.tls.ca_file: \"/nonexistent/ca.pem\" cannot be read"}},
		{"ca file not PEM", "securechange:\n" + url + creds + "  tls: {ca_file: " + notPEM + "}\n",
			[]string{"5 securechange.tls.ca_file: \"" + notPEM + "\" holds no PEM certificate"}},
		{"cert without key", "securechange:\n" + url + creds + "  tls: {cert_file: " + cert + "}\n",
			[]string{"5 securechange.tls: set both cert_file and key_file"}},
		{"cert and key not a pair", "securechange:\n" + url + creds + "  tls: {cert_file: " + cert + ", key_file: " + key + "}\n",
			[]string{"5 securechange.tls: cert_file and key_file do not load as a client certificate"}},
		{"knobs", "securechange:\n" + url + creds + "  timeout: -1s\n  retries: 21\n  retry_backoff: -1s\n",
			[]string{"5 securechange.timeout: -1s must be positive", "6 securechange.retries: 21 is out of range (0 to 20)", "7 securechange.retry_backoff: -1s must be positive"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				if _, err := config.Parse("t.yaml", []byte(tc.yaml)); err != nil {
					t.Fatal(err)
				}
				return
			}
			checkProblems(t, tc.yaml, tc.want)
		})
	}
}

// TestPluginProblems checks the rules of dispatcher.plugins (what rewrite.New builds on):
// a command must be found and runnable here, a url must be http(s), and names unique.
func TestPluginProblems(t *testing.T) {
	dir := t.TempDir()
	plain := writeFile(t, "plain.sh", "#!/bin/sh\n")
	ok := writeFile(t, "ok.sh", "#!/bin/sh\n")
	if err := os.Chmod(ok, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.sh")
	const first = "dispatcher:\n  plugins:\n    - {name: first, command: [OK]}\n"
	cases := []struct {
		name, plugin string
		want         []string
	}{
		{"valid", "{name: x, url: https://plugins.example/rewrite}", nil},
		{"missing", "{name: x, command: [" + missing + "]}", []string{`4 dispatcher.plugins[1].command: "` + missing + `": no such file or directory`}},
		{"not executable", "{name: x, command: [" + plain + "]}", []string{`4 dispatcher.plugins[1].command: "` + plain + `" is not executable (mode -rw-------)`}},
		{"directory", "{name: x, command: [" + dir + "]}", []string{`4 dispatcher.plugins[1].command: "` + dir + `" is a directory`}},
		{"not in PATH", "{name: x, command: [triggerflow-no-such-plugin]}", []string{`4 dispatcher.plugins[1].command: "triggerflow-no-such-plugin": not found in PATH`}},
		{"both", "{name: x, command: [OK], url: http://localhost/}", []string{`4 dispatcher.plugins[1]: set exactly one of command and url`}},
		{"neither", "{name: x}", []string{`4 dispatcher.plugins[1]: set exactly one of command and url`}},
		{"bad url", "{name: x, url: ftp://host/x}", []string{`4 dispatcher.plugins[1].url: "ftp://host/x" is not an http(s) URL`}},
		{"bad format", "{name: x, command: [OK], format: xml}", []string{`4 dispatcher.plugins[1].format: "xml" is not one of kvgroup, json`}},
		{"duplicate", "{name: first, command: [OK]}", []string{`4 dispatcher.plugins[1].name: "first" is listed twice`}},
		{"no name", "{command: [OK]}", []string{`4 dispatcher.plugins[1].name: is required`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.ReplaceAll(first+"    - "+tc.plugin+"\n", "[OK]", "["+ok+"]")
			if tc.want == nil {
				if _, err := config.Parse("t.yaml", []byte(src)); err != nil {
					t.Fatal(err)
				}
				return
			}
			checkProblems(t, src, tc.want)
		})
	}
}

// TestPluginDefaults: a command speaks KVGroup, a url JSON; 10s and 3 runs.
func TestPluginDefaults(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte("dispatcher:\n  plugins:\n    - {name: cmd, command: [bash, -c, 'true']}\n    - {name: web, url: https://plugins.example/rewrite}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ps := c.Dispatcher.Plugins
	if p := ps[0]; p.Format != "kvgroup" || p.Timeout != 10*time.Second || p.MaxRuns != 3 {
		t.Errorf("command defaults = %+v", p)
	}
	if p := ps[1]; p.Format != "json" || p.Timeout != 10*time.Second || p.MaxRuns != 3 {
		t.Errorf("url defaults = %+v", p)
	}
}
