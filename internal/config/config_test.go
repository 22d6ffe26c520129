package config_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

func TestExampleConfigIsValid(t *testing.T) {
	t.Setenv("TRIGGERFLOW_MEDIATOR_PASSWORD", "x")
	cfg, err := config.Load("../../examples/triggerflow.yaml")
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if cfg.Ingress.Path != "/trigger_file" || cfg.Ingress.Users[0].Name != "mediator" {
		t.Fatalf("unexpected example: %+v", cfg.Ingress)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := config.Default()
	want := map[string]any{
		"ingress.listen":        ":8000",
		"ingress.path":          "/trigger_file",
		"ingress.max_body":      int64(1 << 20),
		"ingress.publish":       5 * time.Second,
		"ingress.rejections":    "auto",
		"streams.duplicates":    10 * time.Minute,
		"streams.trigger_max":   365 * 24 * time.Hour,
		"nats.embedded.port":    4222,
		"nats.embedded.storedr": ".triggerflow/nats",
		"nats.embedded.memory":  config.ByteSize(150 << 20),
	}
	got := map[string]any{
		"ingress.listen":        c.Ingress.Listen,
		"ingress.path":          c.Ingress.Path,
		"ingress.max_body":      c.Ingress.MaxBodyBytes,
		"ingress.publish":       c.Ingress.PublishTimeout,
		"ingress.rejections":    c.Ingress.Rejections,
		"streams.duplicates":    c.Streams.Duplicates,
		"streams.trigger_max":   c.Streams.Limits["SCW_TRIGGERS"].MaxAge,
		"nats.embedded.port":    c.NATS.Embedded.Port,
		"nats.embedded.storedr": c.NATS.Embedded.StoreDir,
		"nats.embedded.memory":  c.NATS.Embedded.MemoryLimit,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

// TestProblems checks that every problem is reported at once, with its key path and the
// line of the offending key.
func TestProblems(t *testing.T) {
	t.Setenv("TF_TEST_EMPTY", "")
	cases := []struct {
		name string
		yaml string
		want []string // "LINE path: substring"
	}{
		{"unknown key", "ingress:\n  listen: :8000\n  lisen: :9000\n", []string{"3 ingress.lisen: not a known key (did you mean listen?)"}},
		{"unknown key at the top", "ingres:\n  listen: :8000\n", []string{"1 ingres: not a known key (did you mean ingress?)"}},
		{"unknown key, nothing near", "smtp:\n  mailserver: x\n", []string{"2 smtp.mailserver: not a known key (known keys: "}},
		{"unknown key in a list item", "servers:\n  snow: {base_url: https://snow.example}\nroutes:\n  - name: a\n    actions: [{itsm: {sever: snow, method: POST, path: /x}}]\n",
			[]string{"5 routes[0].actions[0].itsm.sever: not a known key (did you mean server?)", "5 routes[0].actions[0].itsm.server: \"\" is not a configured server"}},
		{"inline password", "ingress:\n  users:\n    - name: a\n      password: hunter2\n", []string{"4 ingress.users[0].password: inline secrets are not accepted"}},
		{"missing env", "ingress:\n  users:\n    - name: a\n      password_env: TF_TEST_UNSET_VAR\n", []string{"4 ingress.users[0].password_env: environment variable TF_TEST_UNSET_VAR is not set"}},
		{"empty env", "ingress:\n  users:\n    - name: a\n      password_env: TF_TEST_EMPTY\n", []string{"4 ingress.users[0].password_env: environment variable TF_TEST_EMPTY is empty"}},
		{"no password", "ingress:\n  users:\n    - name: a\n", []string{"3 ingress.users[0].password_env: is required"}},
		{"bad duration", "ingress:\n  publish_timeout: soon\n", []string{`2 ingress.publish_timeout: "soon" is not a duration (such as 30s, 5m or 1h30m)`}},
		{"bad duration, long", "ingress:\n  publish_timeout: five seconds or so\n", []string{`2 ingress.publish_timeout: "five seconds or so" is not a duration`}},
		{"bad duration, two keys on its line", "ingress: {listen: \":8000\", publish_timeout: 5 seconds}\n", []string{`1 ingress.publish_timeout: "5 seconds" is not a duration`}},
		{"a list for a duration", "ingress:\n  publish_timeout: [5s]\n", []string{"2 ingress.publish_timeout: a list is not a duration"}},
		{"bad number", "itsm_sync:\n  pull_batch: lots\n", []string{`2 itsm_sync.pull_batch: "lots" is not a whole number`}},
		{"several at once", "log:\n  level: loud\ningress:\n  rejections: maybe\n  path: nope\nstreams:\n  duplicates: 1m\n",
			[]string{"2 log.level: \"loud\" is not one of", "4 ingress.rejections: \"maybe\"", "5 ingress.path: \"nope\" must start with /", "7 streams.duplicates: 1m0s is below the minimum 10m0s"}},
		{"nats url scheme", "nats:\n  url: localhost:4222\n", []string{"2 nats.url: server 1 \"localhost:4222\" has no scheme"}},
		{"replicas embedded", "nats:\n  replicas: 3\n", []string{"2 nats.replicas: 3 needs a cluster"}},
		{"embedded memory limit", "nats:\n  embedded:\n    memory_limit: 64MiB\n", []string{"3 nats.embedded.memory_limit: 64MiB is below 96MiB"}},
		{"embedded monitor port", "nats:\n  embedded:\n    monitor_port: 70000\n", []string{"3 nats.embedded.monitor_port: 70000 is not a port of its own"}},
		{"embedded monitor port taken", "nats:\n  embedded:\n    port: 4223\n    monitor_port: 4223\n", []string{"4 nats.embedded.monitor_port: 4223 is not a port of its own"}},
		{"embedded memory limit size", "nats:\n  embedded:\n    memory_limit: lots\n", []string{"3 nats.embedded.memory_limit: \"lots\" is not a size"}},
		{"publish vs write timeout", "ingress:\n  publish_timeout: 40s\n", []string{"2 ingress.publish_timeout: 40s must be shorter than ingress.write_timeout"}},
		{"duplicate user", "ingress:\n  users:\n    - {name: a, password_file: /dev/null/x}\n    - {name: a, password_file: /dev/null/x}\n",
			[]string{"3 ingress.users[0].password_file: read secret file", "4 ingress.users[1].name: \"a\" is listed twice", "4 ingress.users[1].password_file: read secret file"}},
		{"tls half", "ingress:\n  tls:\n    cert_file: /nonexistent.pem\n", []string{"2 ingress.tls: set both", "3 ingress.tls.cert_file: \"/nonexistent.pem\" cannot be read"}},
		{"syntax", "ingress: [\n", []string{"1 : did not find expected node content"}},
		{"listen", "ingress:\n  listen: 8000\n", []string{"2 ingress.listen: \"8000\" is not host:port"}},
		{"listen port out of range", "ingress:\n  listen: 127.0.0.1:99999\nadmin:\n  listen: :70000\n", []string{"2 ingress.listen: \"127.0.0.1:99999\": port \"99999\" is not a port (0 to 65535)", "4 admin.listen: \":70000\": port \"70000\" is not a port"}},
		{"path with a wildcard", "ingress:\n  path: /t/{x}\n", []string{"2 ingress.path: \"/t/{x}\" must start with /"}},
		{"routes", "servers:\n  snow: {base_url: https://snow.example}\nroutes:\n  - name: a\n    actions: [{itsm: {server: snow, method: POST, path: /x}}]\n  - name: a\n    on: {event: EXPLODE}\n    actions: [{itsm: {server: snwo, method: POST, path: /x}}]\n",
			[]string{"6 routes[1].name: \"a\" is listed twice", "7 routes[1].on.event[0]: unknown trigger \"EXPLODE\"", "8 routes[1].actions[0].itsm.server: \"snwo\" is not a configured server (servers: snow)"}},
		{"plugins", "dispatcher:\n  plugins:\n    - {command: [/bin/true], url: http://x}\n",
			[]string{"3 dispatcher.plugins[0].name: is required", "3 dispatcher.plugins[0]: set exactly one of command and url"}},
		{"path clash", "ingress:\n  path: /metrics\n", []string{"2 ingress.path: \"/metrics\" clashes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yaml, tc.want) })
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	s := config.NewSecret("hunter2")
	var b strings.Builder
	l := slog.New(slog.NewTextHandler(&b, nil))
	l.Info("x", "secret", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), b.String(), fmt.Sprintf("%v", struct{ S config.Secret }{s})} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal")
	}
}

func TestSecretFromFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := config.SecretRef{File: p}.Resolve()
	if err != nil || s.Reveal() != "s3cret" {
		t.Fatalf("got %q, %v", s.Reveal(), err)
	}
	if _, err := (config.SecretRef{Env: "A", File: p}).Resolve(); err == nil {
		t.Fatal("both sources accepted")
	}
}
