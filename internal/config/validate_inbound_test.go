package config_test

import (
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestInboundProblems checks every rule of servers.<name>.inbound: each problem with its
// line, key path and message, and no secret in any message.
func TestInboundProblems(t *testing.T) {
	t.Setenv("TF_IN_SECRET", "hunter2")
	t.Setenv("TF_IN_USER", "itsm")
	const snow = "servers:\n  snow:\n    base_url: https://snow.example\n    inbound:\n"
	cases := []struct {
		name string
		yaml string
		want []string // "LINE path: substring"
	}{
		{"path not a path", snow + "      path: v1/x\n      auth: {bearer: {token_env: TF_IN_SECRET}}\n",
			[]string{"5 servers.snow.inbound.path: \"v1/x\" must start with /"}},
		{"path with a wildcard", snow + "      path: \"/v1/{x}\"\n      auth: {bearer: {token_env: TF_IN_SECRET}}\n",
			[]string{"5 servers.snow.inbound.path: \"/v1/{x}\" must start with /"}},
		{"path clashes with the ingress's endpoints",
			"servers:\n" +
				"  a: {base_url: https://a.example, inbound: {path: /trigger_file, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
				"  b: {base_url: https://b.example, inbound: {path: /v1/triggers/CREATE, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
				"  c: {base_url: https://c.example, inbound: {path: /healthz, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
				"  d: {base_url: https://d.example, inbound: {path: /metrics, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
				"  e: {base_url: https://e.example, inbound: {path: /readyz, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
				"  f: {base_url: https://f.example, inbound: {path: /, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n",
			[]string{
				"2 servers.a.inbound.path: \"/trigger_file\" clashes with the ingress's own endpoints",
				"3 servers.b.inbound.path: \"/v1/triggers/CREATE\" clashes",
				"4 servers.c.inbound.path: \"/healthz\" clashes",
				"5 servers.d.inbound.path: \"/metrics\" clashes",
				"6 servers.e.inbound.path: \"/readyz\" clashes",
				"7 servers.f.inbound.path: \"/\" clashes",
			}},
		{"path used twice, also by default",
			"servers:\n" +
				"  a: {base_url: https://a.example, inbound: {path: /v1/inbound/c, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
				"  b: {base_url: https://b.example, inbound: {path: /v1/inbound/c, auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
				"  c: {base_url: https://c.example, inbound: {auth: {bearer: {token_env: TF_IN_SECRET}}}}\n",
			[]string{
				"3 servers.b.inbound.path: \"/v1/inbound/c\" is already servers.a.inbound.path",
				"4 servers.c.inbound.path: \"/v1/inbound/c\" is already servers.a.inbound.path",
			}},
		{"two auth methods, inline secrets", snow + "      auth:\n        basic: {user: itsm, password: hunter2}\n        hmac: {secret: hunter2}\n",
			[]string{
				"5 servers.snow.inbound.auth: set exactly one of basic, bearer and hmac",
				"6 servers.snow.inbound.auth.basic.password: inline secrets are not accepted; use password_env or password_file",
				"7 servers.snow.inbound.auth.hmac.secret: inline secrets are not accepted; use secret_env or secret_file",
			}},
		{"basic without user, password unset", snow + "      auth:\n        basic: {user: \"a:b\", password_env: TF_IN_UNSET}\n",
			[]string{
				"6 servers.snow.inbound.auth.basic.user: \"a:b\" must not contain ':'",
				"6 servers.snow.inbound.auth.basic.password_env: environment variable TF_IN_UNSET is not set",
			}},
		{"bearer without token, bad header", snow + "      auth:\n        bearer: {token: hunter2, header: \"X Token\"}\n",
			[]string{
				"6 servers.snow.inbound.auth.bearer.token: inline secrets are not accepted; use token_env or token_file",
				"6 servers.snow.inbound.auth.bearer.header: \"X Token\" is not a valid header name",
			}},
		{"hmac secret missing, headers, window", snow + "      auth:\n        hmac: {signature_header: \"X Sig\", timestamp_header: X-Ts, window: -1s}\n",
			[]string{
				"6 servers.snow.inbound.auth.hmac.secret_env: is required (or secret_file)",
				"6 servers.snow.inbound.auth.hmac.signature_header: \"X Sig\" is not a valid header name",
				"6 servers.snow.inbound.auth.hmac.window: -1s must be positive",
			}},
		{"hmac secret file unreadable, window too long, one header for both",
			snow + "      auth:\n        hmac: {secret_file: /nonexistent/secret, timestamp_header: X-Triggerflow-Signature, window: 2h}\n",
			[]string{
				"6 servers.snow.inbound.auth.hmac.secret_file: read secret file",
				"6 servers.snow.inbound.auth.hmac.timestamp_header: \"X-Triggerflow-Signature\" is also the signature_header",
				"6 servers.snow.inbound.auth.hmac.window: 2h0m0s is longer than 1h0m0s",
			}},
		{"JSON paths blank, record_key without record, body limit",
			snow + "      auth: {hmac: {secret_env: TF_IN_SECRET}}\n      id: \" \"\n      ticket: \"ticket \"\n      record_key: sys_id\n      max_body_bytes: unlimited\n",
			[]string{
				"6 servers.snow.inbound.id: \" \" must not be blank",
				"7 servers.snow.inbound.ticket: \"ticket \" must not be blank",
				"8 servers.snow.inbound.record_key: \"sys_id\" is set but record is not",
				"9 servers.snow.inbound.max_body_bytes: -1 must be positive",
			}},
		{"body limit too large", snow + "      auth: {hmac: {secret_env: TF_IN_SECRET}}\n      max_body_bytes: 65MiB\n",
			[]string{"6 servers.snow.inbound.max_body_bytes: 68157440 is larger than 67108864"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, tc.yaml, tc.want)
		})
	}
}

// TestInboundDefaults: a minimal inbound section gets its path, body limit, record key
// and HMAC headers and window; a server without one gets no endpoint, and one without
// auth is valid config (the ingress refuses it unless --dev).
func TestInboundDefaults(t *testing.T) {
	t.Setenv("TF_IN_SECRET", "hunter2")
	yaml := `servers:
  snow:
    base_url: https://snow.example
    inbound:
      auth: {hmac: {secret_env: TF_IN_SECRET}}
      id: sys_audit.event_id
      ticket: u_securechange_ticket
      record: result.sys_id
  jira:
    base_url: https://jira.example
    inbound:
      path: /hooks/jira
      record: issue\.key
      record_key: key
      max_body_bytes: 1KiB
  dev:
    base_url: https://dev.example
    inbound: {}
  plain:
    base_url: https://plain.example
`
	c, err := config.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	snow := c.Servers["snow"].Inbound
	h := snow.Auth.HMAC
	switch {
	case snow.Path != "/v1/inbound/snow" || snow.MaxBodyBytes != 256<<10 || snow.RecordKey != "sys_id":
		t.Errorf("snow: %+v", snow)
	case h.SignatureHeader != "X-Triggerflow-Signature" || h.TimestampHeader != "X-Triggerflow-Timestamp" || h.Window != 5*time.Minute:
		t.Errorf("snow hmac: %+v", h)
	}
	if jira := c.Servers["jira"].Inbound; jira.Path != "/hooks/jira" || jira.RecordKey != "key" || jira.MaxBodyBytes != 1024 {
		t.Errorf("jira: %+v", jira)
	}
	if dev := c.Servers["dev"].Inbound; dev.Path != "/v1/inbound/dev" || dev.RecordKey != "" {
		t.Errorf("dev: %+v", dev)
	}
	if c.Servers["plain"].Inbound != nil {
		t.Errorf("plain got an inbound endpoint")
	}
	// The last element of an escaped record path.
	c2, err := config.Parse("t.yaml", []byte("servers:\n  a:\n    base_url: https://a.example\n    inbound: {record: 'data.issue\\.key'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k := c2.Servers["a"].Inbound.RecordKey; k != "issue.key" {
		t.Errorf("record_key %q, want issue.key", k)
	}
}
