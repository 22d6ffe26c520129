package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestITSMProblems checks every rule of itsm_sync, servers.<name> (client settings and
// auth) and the itsm actions' paths and lookups: each problem with its line, key path
// and message, and no secret in any message.
func TestITSMProblems(t *testing.T) {
	t.Setenv("TF_ITSM_PW", "hunter2")
	t.Setenv("TF_ITSM_USER", "svc")
	t.Setenv("TF_ITSM_EMPTY", "")
	const snow = "servers:\n  snow:\n    base_url: https://snow.example\n"
	cases := []struct {
		name string
		yaml string
		want []string // "LINE path: substring"
	}{
		{"itsm_sync knobs", "itsm_sync:\n  ack_wait: -1s\n  # (line 3)\n  # (line 4)\n  # (line 5)\n  excerpt_bytes: 10\n" +
			"  placeholders: {\"a#b\": x, \"\": y, ok: z}\n  retry:\n    attempts: -1\n    max_age: -1h\n    backoff: 2m\n    max_backoff: 1m\n    max_retry_after: -1s\n",
			[]string{
				"2 itsm_sync.ack_wait: -1s must be positive",
				"6 itsm_sync.excerpt_bytes: 10 is out of range (64 to 65536)",
				"7 itsm_sync.placeholders: \"\": a placeholder needs a name",
				"7 itsm_sync.placeholders.a#b: \"a#b\" must not contain '#'",
				"9 itsm_sync.retry.attempts: -1 must be at least 1",
				"10 itsm_sync.retry.max_age: -1h0m0s must be positive",
				"12 itsm_sync.retry.max_backoff: 1m0s is shorter than itsm_sync.retry.backoff 2m0s",
				"13 itsm_sync.retry.max_retry_after: -1s must be positive",
			}},
		{"excerpt too large", "itsm_sync:\n  excerpt_bytes: 65537\n", []string{"2 itsm_sync.excerpt_bytes: 65537 is out of range"}},
		{"server knobs", "servers:\n  snow:\n    base_url: https://u:hunter2@snow.example\n" +
			"    headers: {\"Bad Name\": x, X-Ok: \"a\\nb\", Authorization: \"Basic hunter2\", Accept: application/json}\n" +
			"    timeout: -1s\n    proxy: http://user:hunter2@proxy:3128\n    tls: {cert_file: /nonexistent.pem}\n" +
			"    rate_limit: -1\n    burst: -1\n    concurrency: -2\n    breaker: {failures: -2, open_for: -1s}\n" +
			"    retry: {attempts: -1, backoff: -1s}\n    idempotency_header: \"Bad Header\"\n",
			[]string{
				"3 servers.snow.base_url: must not hold credentials",
				"4 servers.snow.headers.Authorization: inline secrets are not accepted; use servers.snow.auth",
				"4 servers.snow.headers.Bad Name: \"Bad Name\" is not a valid header name",
				"4 servers.snow.headers.X-Ok: the value must not contain line breaks",
				"5 servers.snow.timeout: -1s must be positive",
				"6 servers.snow.proxy: \"http://[REDACTED]@proxy:3128\" holds credentials",
				"7 servers.snow.tls: set both cert_file and key_file",
				"7 servers.snow.tls.cert_file: \"/nonexistent.pem\" cannot be read",
				"8 servers.snow.rate_limit: -1 must be 0 (no limit) or a positive number",
				"9 servers.snow.burst: -1 must be at least 1",
				"10 servers.snow.concurrency: -2 must be at least 1",
				"11 servers.snow.breaker.failures: -2 must be at least 1 (or -1 to disable the breaker)",
				"11 servers.snow.breaker.open_for: -1s must be positive",
				"12 servers.snow.retry.attempts: -1 must be at least 1",
				"12 servers.snow.retry.backoff: -1s must be positive",
				"13 servers.snow.idempotency_header: \"Bad Header\" is not a valid header name (or - to send none)",
			}},
		{"server without base_url", "servers:\n  snow: {timeout: 5s}\n", []string{"2 servers.snow.base_url: \"\" is not an http(s) URL"}},
		{"base_url with a query", "servers:\n  snow:\n    base_url: https://snow.example/api?x=1\n", []string{"3 servers.snow.base_url: \"https://snow.example/api?x=1\" must not hold a query"}},
		{"proxy not a URL", snow + "    proxy: socks5://proxy:1080\n", []string{"4 servers.snow.proxy: \"socks5://proxy:1080\" is not an http(s) URL"}},
		{"unparsable proxy with credentials", snow + "    proxy: \"http://u:hun ter2@pro xy:3128\"\n", []string{"4 servers.snow.proxy: \"http://[REDACTED]@pro xy:3128\" is not an http(s) URL"}},
		{"breaker -1 disables; an infinite rate is no limit", snow + "    breaker: {failures: -1}\n    rate_limit: .inf\n", []string{"5 servers.snow.rate_limit: +Inf must be 0"}},
		{"retry inherited from itsm_sync is reported once",
			"itsm_sync:\n  retry: {backoff: -1s}\nservers:\n  a: {base_url: https://a.example, retry: {max_backoff: 1s}}\n  b: {base_url: https://b.example, retry: {backoff: 10m}}\n",
			[]string{
				"2 itsm_sync.retry.backoff: -1s must be positive",
				"5 servers.b.retry.max_backoff: 5m0s is shorter than servers.b.retry.backoff 10m0s",
			}},
		{"several auth modes and inline secrets", snow + "    auth:\n      basic: {user: a, password: hunter2}\n      bearer: {token: hunter2}\n",
			[]string{
				"4 servers.snow.auth: set at most one of basic, bearer, oauth2 and command",
				"5 servers.snow.auth.basic.password: inline secrets are not accepted; use password_env or password_file",
				"6 servers.snow.auth.bearer.token: inline secrets are not accepted; use token_env or token_file",
			}},
		{"basic without user, password env unset", snow + "    auth:\n      basic: {password_env: TF_ITSM_UNSET}\n",
			[]string{
				"5 servers.snow.auth.basic.user: is required (or user_env)",
				"5 servers.snow.auth.basic.password_env: environment variable TF_ITSM_UNSET is not set",
			}},
		{"basic user twice, colon, empty password", snow + "    auth:\n      basic: {user: \"a:b\", user_env: TF_ITSM_USER, password_env: TF_ITSM_EMPTY}\n",
			[]string{
				"5 servers.snow.auth.basic.user: set user or user_env, not both",
				"5 servers.snow.auth.basic.user: \"a:b\" must not contain ':'",
				"5 servers.snow.auth.basic.password_env: environment variable TF_ITSM_EMPTY is empty",
			}},
		{"basic user_env unset, password file missing", snow + "    auth:\n      basic: {user_env: TF_ITSM_UNSET, password_file: /nonexistent/pw}\n",
			[]string{
				"5 servers.snow.auth.basic.user_env: environment variable TF_ITSM_UNSET is not set",
				"5 servers.snow.auth.basic.password_file: read secret file",
			}},
		{"bearer without token, bad header and scheme", snow + "    auth:\n      bearer: {header: \"X Api\", scheme: \"Bad Scheme\"}\n",
			[]string{
				"5 servers.snow.auth.bearer.token_env: is required (or token_file)",
				"5 servers.snow.auth.bearer.header: \"X Api\" is not a valid header name",
				"5 servers.snow.auth.bearer.scheme: \"Bad Scheme\" must be one word",
			}},
		{"headers that auth sets",
			"servers:\n  a:\n    base_url: https://a.example\n    headers: {Authorization: x}\n    auth: {bearer: {token_env: TF_ITSM_PW}}\n" +
				"  b:\n    base_url: https://b.example\n    headers: {x-api-key: x}\n    auth: {command: {command: [/bin/echo, t], header: X-Api-Key}}\n",
			[]string{
				"4 servers.a.headers.Authorization: Authorization is set by servers.a.auth",
				"8 servers.b.headers.x-api-key: X-Api-Key is set by servers.b.auth",
			}},
		{"oauth2 client_credentials incomplete", snow + "    auth:\n      oauth2: {grant: client_credentials, token_url: not-a-url, username: u, refresh_token_env: TF_ITSM_PW, auth_style: basic}\n",
			[]string{
				"5 servers.snow.auth.oauth2.token_url: \"not-a-url\" is not an http(s) URL",
				"5 servers.snow.auth.oauth2.client_id: is required",
				"5 servers.snow.auth.oauth2.client_secret_env: is required (or client_secret_file)",
				"5 servers.snow.auth.oauth2.username: username and password are only used by the password grant",
				"5 servers.snow.auth.oauth2.refresh_token_env: a refresh token is only used by the refresh_token grant",
				"5 servers.snow.auth.oauth2.auth_style: \"basic\" is not one of header, params, auto",
			}},
		{"oauth2 password grant incomplete", snow + "    auth:\n      oauth2: {grant: password, token_url: https://snow.example/oauth_token.do, client_id: c, client_secret_env: TF_ITSM_UNSET}\n",
			[]string{
				"5 servers.snow.auth.oauth2.client_secret_env: environment variable TF_ITSM_UNSET is not set",
				"5 servers.snow.auth.oauth2.username: is required (or username_env)",
				"5 servers.snow.auth.oauth2.password_env: is required (or password_file)",
			}},
		{"oauth2 refresh_token without token, unknown grant",
			"servers:\n  a:\n    base_url: https://a.example\n    auth: {oauth2: {grant: refresh_token, token_url: https://a.example/token, client_id: c}}\n" +
				"  b:\n    base_url: https://b.example\n    auth: {oauth2: {grant: implicit, token_url: https://b.example/token, client_id: c}}\n",
			[]string{
				"4 servers.a.auth.oauth2.refresh_token_env: is required (or refresh_token_file)",
				"7 servers.b.auth.oauth2.grant: \"implicit\" is not one of password, refresh_token, client_credentials",
			}},
		{"command",
			"servers:\n  a:\n    base_url: https://a.example\n    auth: {command: {command: [], cache_for: -1s, timeout: -1s}}\n" +
				"  b:\n    base_url: https://b.example\n    auth: {command: {command: [/nonexistent/get-token]}}\n",
			[]string{
				"4 servers.a.auth.command.command: is required",
				"4 servers.a.auth.command.cache_for: -1s must be positive",
				"4 servers.a.auth.command.timeout: -1s must be positive",
				"7 servers.b.auth.command.command: \"/nonexistent/get-token\" cannot be read",
			}},
		{"itsm paths and lookups", snow + "routes:\n  - name: a\n    actions:\n      - itsm:\n          server: snow\n          method: POST\n" +
			"          path: //evil.example/x\n          lookup: {method: HEAD, path: x, found: \"\"}\n" +
			"      - itsm: {server: snow, method: POST, path: \"/x?u=https://ok.example\", lookup: {path: \"/a://b\", found: result}}\n",
			[]string{
				"10 routes[0].actions[0].itsm.path: \"//evil.example/x\" must be a path on the server, not a URL",
				"11 routes[0].actions[0].itsm.lookup.method: \"HEAD\" is not one of GET, POST, PUT, PATCH, DELETE",
				"11 routes[0].actions[0].itsm.lookup.path: \"x\" must start with /",
				"11 routes[0].actions[0].itsm.lookup.found: is required",
				"12 routes[0].actions[1].itsm.lookup.path: \"/a://b\" must be a path on the server, not a URL",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, tc.yaml, tc.want)
		})
	}
}

// TestITSMValid: every auth mode and knob, set correctly, passes.
func TestITSMValid(t *testing.T) {
	t.Setenv("TF_ITSM_PW", "hunter2")
	t.Setenv("TF_ITSM_USER", "svc")
	yaml := `itsm_sync:
  excerpt_bytes: 64
  placeholders: {change_type: normal}
  retry: {attempts: 1, backoff: 1s, max_backoff: 1s}
servers:
  basic:
    base_url: https://a.example/api/
    headers: {Accept: application/json, X-Tenant: a}
    auth: {basic: {user_env: TF_ITSM_USER, password_env: TF_ITSM_PW}}
    breaker: {failures: -1}
    proxy: none
    idempotency_header: "-"
  bearer:
    base_url: https://b.example
    auth: {bearer: {token_env: TF_ITSM_PW, header: X-Api-Key, scheme: Token}}
    proxy: https://proxy.example:3128
    rate_limit: 2.5
    burst: 3
    concurrency: 1
  password:
    base_url: https://c.example
    auth: {oauth2: {grant: password, token_url: https://c.example/oauth_token.do, client_id: c, client_secret_env: TF_ITSM_PW, username: u, password_env: TF_ITSM_PW, auth_style: params}}
  refresh:
    base_url: https://d.example
    auth: {oauth2: {grant: refresh_token, token_url: https://d.example/token, client_id: c, refresh_token_env: TF_ITSM_PW, auth_style: header}}
  cc:
    base_url: http://e.example
    auth: {oauth2: {grant: client_credentials, token_url: https://e.example/token, client_id: c, client_secret_env: TF_ITSM_PW, scopes: [a, b]}}
  cmd:
    base_url: https://f.example
    auth: {command: {command: [/bin/echo, token], cache_for: 1m, timeout: 5s}}
routes:
  - name: create
    actions:
      - itsm:
          server: basic
          method: POST
          path: /table/change?sysparm_display_value=true
          lookup: {path: "/table/change?sysparm_query=correlation_id=#ticket_id#", found: result.0.sys_id}
`
	if _, err := config.Parse("t.yaml", []byte(yaml)); err != nil {
		t.Fatal(err)
	}
}

// checkProblems parses src and wants exactly the problems in want ("LINE path: substring"),
// none of which may show the test secret hunter2.
func checkProblems(t *testing.T, src string, want []string) {
	t.Helper()
	_, err := config.Parse("t.yaml", []byte(src))
	var ps *config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want *Problems, got %v", err)
	}
	var got []string
	for _, p := range ps.List {
		got = append(got, fmt.Sprintf("%d %s: %s", p.Line, p.Path, p.Msg))
	}
	for _, w := range want {
		line, rest, _ := strings.Cut(w, " ")
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, line+" ") && strings.Contains(g, rest) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing problem %q in:\n  %s", w, strings.Join(got, "\n  "))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n  %s", len(got), len(want), strings.Join(got, "\n  "))
	}
	if strings.Contains(ps.Error(), "hunter2") {
		t.Errorf("a secret leaked into the problems:\n%s", ps.Error())
	}
}

// writeFile writes text to a new file name in a temporary directory and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
