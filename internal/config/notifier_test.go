package config_test

import (
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestNotifierProblems checks the rules of smtp, notifications, notifier and recipients,
// each with its line, key path and message, and no secret in any message.
func TestNotifierProblems(t *testing.T) {
	t.Setenv("TF_SMTP_PW", "hunter2")
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"smtp", "smtp:\n  host: mail\n  port: 70000\n  tls: true\n  starttls: true\n  from: not an address\n  password: hunter2\n  auth: digest\n",
			[]string{
				"3 smtp.port: 70000 is not a port",
				"5 smtp.starttls: choose implicit TLS",
				"6 smtp.from: \"not an address\" is not an e-mail address",
				"7 smtp.password: inline secrets are not accepted",
				"8 smtp.auth: \"digest\" is not one of plain, login, cram-md5",
				"8 smtp.auth: \"digest\" is set, but no username and password",
			}},
		{"smtp without from", "smtp:\n  host: mail\n", []string{"1 smtp.from: is required: the sender address"}},
		{"auth without credentials", "smtp:\n  host: mail\n  from: tf@example.com\n  auth: login\n",
			[]string{"4 smtp.auth: \"login\" is set, but no username and password"}},
		{"clear-text cram-md5", "smtp:\n  host: mail\n  starttls: false\n  from: tf@example.com\n  username: tf\n  password_env: TF_SMTP_PW\n  auth: cram-md5\n",
			[]string{"3 smtp.starttls: false with a password would send it in clear text"}},
		{"username twice, password file missing", "smtp:\n  host: mail\n  from: tf@example.com\n  username: tf\n  username_env: TF_NO_SUCH_VAR\n  password_file: /nonexistent/pw\n",
			[]string{"4 smtp.username: set username or username_env, not both", "6 smtp.password_file: read secret file"}},
		{"missing username env", "smtp:\n  host: mail\n  from: tf@example.com\n  username_env: TF_NO_SUCH_VAR\n  password_env: TF_SMTP_PW\n",
			[]string{"4 smtp.username_env: environment variable TF_NO_SUCH_VAR is not set"}},
		{"tls_config", "smtp:\n  host: mail\n  from: tf@example.com\n  tls_config: {ca_file: /nonexistent/ca.pem}\n",
			[]string{"4 smtp.tls_config.ca_file: \"/nonexistent/ca.pem\" cannot be read"}},
		{"tls_config without TLS", "smtp:\n  host: mail\n  from: tf@example.com\n  starttls: false\n  tls_config: {ca_file: " + notPEM + "}\n",
			[]string{
				"5 smtp.tls_config: is set, but neither STARTTLS nor tls: true is on",
				"5 smtp.tls_config.ca_file: \"" + notPEM + "\" holds no PEM certificate",
			}},
		{"clear-text password", "smtp:\n  host: mail\n  starttls: false\n  from: tf@example.com\n  username: tf\n  password_env: TF_SMTP_PW\n",
			[]string{"3 smtp.starttls: false with a password would send it in clear text"}},
		{"user without password", "smtp:\n  host: mail\n  from: tf@example.com\n  username: tf\n",
			[]string{"4 smtp.username: set both a username"}},
		{"missing password env", "smtp:\n  host: mail\n  from: tf@example.com\n  username: tf\n  password_env: TF_NO_SUCH_VAR\n",
			[]string{"5 smtp.password_env: environment variable TF_NO_SUCH_VAR is not set"}},
		{"smtp without host", "smtp:\n  from: tf@example.com\n", []string{"1 smtp.host: is required when smtp is configured"}},
		{"notifications", "notifications:\n  on_failure: [ops@example.com, nobody]\n  digest_after: -1\n  digest_window: -1s\n",
			[]string{
				"2 notifications.on_failure: \"nobody\" is not an e-mail address, requester or handler",
				"2 notifications.on_failure: needs smtp.host",
				"3 notifications.digest_after: -1 must be at least 1",
				"4 notifications.digest_window: -1s must be positive",
			}},
		{"alert nats server", "notifications:\n  nats_server: nats://ops:pw@nats.example:4222\n",
			[]string{"2 notifications.nats_server: must not hold credentials"}},
		{"alert nats server not a url", "notifications:\n  nats_server: nats.example\n",
			[]string{"2 notifications.nats_server: \"nats.example\" is not a NATS URL"}},
		{"notifier", "notifier:\n  ack_wait: -1s\n  # (line 3)\n  concurrency: -1\n",
			[]string{"2 notifier.ack_wait: -1s must be positive", "4 notifier.concurrency: -1 must be at least 1"}},
		{"email recipients", "routes:\n  - name: r\n    on: {event: CREATE}\n    on_failure: [\"x@\"]\n    actions:\n      - email: {to: [requester, handler, \"bad address\"]}\n",
			[]string{
				"4 routes[0].on_failure: \"x@\" is not an e-mail address",
				"6 routes[0].actions[0].email.to: \"bad address\" is not an e-mail address",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yaml, tc.want) })
	}
}

// TestAlertNATSServer: the alert emails' --server is notifications.nats_server, else
// nats.url without credentials, else the embedded server's address.
func TestAlertNATSServer(t *testing.T) {
	c := config.Default()
	if got := c.AlertNATSServer(); got != "nats://127.0.0.1:4222" {
		t.Errorf("embedded: %q", got)
	}
	c.NATS.URL = "nats://u:secret@a.example:4222,nats://tok@b.example:4222"
	if got := c.AlertNATSServer(); got != "nats://a.example:4222,nats://b.example:4222" {
		t.Errorf("nats.url: %q", got)
	}
	c.Notifications.NATSServer = "nats://ops.example:4222"
	if got := c.AlertNATSServer(); got != "nats://ops.example:4222" {
		t.Errorf("notifications.nats_server: %q", got)
	}
}

// TestNotifierDefaults: STARTTLS on 587 by default, 465 for implicit TLS, plain auth with
// a username.
func TestNotifierDefaults(t *testing.T) {
	c := config.Default()
	if c.SMTP.Port != 587 || !c.SMTP.StartTLSOn() || c.Notifications.DigestAfter != 10 || c.Notifier.Concurrency != 4 {
		t.Fatalf("defaults: %+v %+v %+v", c.SMTP, c.Notifications, c.Notifier)
	}
	c = &config.Config{SMTP: config.SMTP{TLS: true, Username: "u"}}
	c.SetDefaults()
	if c.SMTP.Port != 465 || c.SMTP.StartTLSOn() || c.SMTP.Auth != "plain" {
		t.Fatalf("implicit TLS defaults: %+v", c.SMTP)
	}
}
