package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestWarnings: keys that no longer do anything, and a create whose outcome can be
// unknown with no lookup, load (they do not stop a start) but are reported with their
// lines; a create with a lookup, an update and a GET are not.
func TestWarnings(t *testing.T) {
	t.Parallel()
	src := `itsm_sync:
  pull_batch: 2
  wait_for_create: 30m
dispatcher:
  concurrency: 4
shutdown:
  drain_timeout: 5s
servers:
  snow: {base_url: https://snow.example}
routes:
  - name: open
    actions:
      - itsm: {server: snow, method: POST, path: /api/now/table/change_request, body: "{}"}
      - itsm:
          server: snow
          method: POST
          path: /api/now/table/change_request
          lookup: {path: "/api/now/table/change_request?sysparm_query=correlation_id=#trigger_id#", found: result.0.sys_id}
      - itsm: {server: snow, method: POST, path: "/api/now/table/change_request/#correlation.sys_id#/comments"}
      - itsm: {server: snow, method: PATCH, path: /api/now/table/change_request/x}
`
	cfg, err := config.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := checkWarnings(t, cfg,
		"2 itsm_sync.pull_batch: has no effect",
		"3 itsm_sync.wait_for_create: has no effect any more and can be removed: an update waits for its create by being behind it in its lane",
		"5 dispatcher.concurrency: has no effect",
		"13 routes[0].actions[0].itsm: a create (POST /api/now/table/change_request) without a lookup",
	)
	if !strings.Contains(got[3], "Idempotency-Key") || !strings.Contains(got[3], "add lookup") {
		t.Errorf("the create warning does not explain the window and the fix: %s", got[3])
	}
	if cfg.Shutdown.DrainTimeout.String() != "5s" {
		t.Errorf("drain_timeout = %s", cfg.Shutdown.DrainTimeout)
	}
}

// TestShutdownDefaults: a 10s drain by default, validated.
func TestShutdownDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("t.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Shutdown.DrainTimeout.String(); d != "10s" {
		t.Errorf("default drain_timeout = %s, want 10s", d)
	}
	if cfg.StopTimeout() <= cfg.Shutdown.DrainTimeout {
		t.Errorf("stop timeout %s leaves no time after the drain", cfg.StopTimeout())
	}
	checkProblems(t, "shutdown:\n  drain_timeout: 6m\n", []string{"2 shutdown.drain_timeout: 6m0s is longer than 5m"})
	checkProblems(t, "shutdown:\n  drain_timeout: -1s\n", []string{"2 shutdown.drain_timeout: -1s must be positive"})
}

// TestZeroTakenAsUnset: a number or duration written as 0 that the config replaces with
// its default is warned about, with the value that applies; a retry's attempts of 0 take
// itsm_sync.retry's; a 0 that stays 0 (a port, securechange.retries) is not warned about.
func TestZeroTakenAsUnset(t *testing.T) {
	src := `ingress:
  publish_timeout: 0s
itsm_sync:
  retry: {attempts: 0}
servers:
  snow: {base_url: https://snow.example, retry: {attempts: 0, backoff: 200ms}}
nats:
  embedded: {monitor_port: 0}
securechange: {url: https://sc.example, user: u, password_env: TF_ZERO_PW, retries: 0}
`
	t.Setenv("TF_ZERO_PW", "x")
	cfg, err := config.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, cfg,
		"2 ingress.publish_timeout: 0s is taken as unset: the default, 5s, applies; remove the line to say so, or give another value",
		"4 itsm_sync.retry.attempts: 0 is taken as unset: the default, 8, applies",
		"6 servers.snow.retry.attempts: 0 is taken as unset: the attempts of itsm_sync.retry apply (8 by default); 1 is a single attempt, no retry",
	)
}

// checkWarnings checks cfg's warnings, as "LINE path: message", against the prefixes
// want, in order, and returns them.
func checkWarnings(t *testing.T, cfg *config.Config, want ...string) []string {
	t.Helper()
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, fmt.Sprintf("%d %s: %s", w.Line, w.Path, w.Msg))
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n  %s", len(got), len(want), strings.Join(got, "\n  "))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, got[i], w)
		}
	}
	return got
}

// TestEmailWithoutSMTP: an email action with no smtp.host is warned about (no notifier
// would run to send it); with smtp.host set it is not.
func TestEmailWithoutSMTP(t *testing.T) {
	t.Parallel()
	src := "routes:\n  - name: tell\n    actions:\n      - email: {to: [a@example.com], subject: x}\n"
	cfg, err := config.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, cfg, "4 routes[0].actions[0].email: no smtp.host is configured: no notifier runs")
	cfg, err = config.Parse("t.yaml", []byte(src+"smtp: {host: mail.example, port: 25, from: tf@example.com}\n"))
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, cfg)
}
