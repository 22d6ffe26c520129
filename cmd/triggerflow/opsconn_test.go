package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestOpsServerURL: --server beats $NATS_URL, which beats nats.url, which beats the
// embedded server's address; each is named as the source.
func TestOpsServerURL(t *testing.T) {
	cfg := config.Default()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	o := &opsFlags{}
	check := func(wantURL, wantFrom string) {
		t.Helper()
		url, from := o.serverURL(cfg, getenv)
		if url != wantURL || from != wantFrom {
			t.Fatalf("serverURL = %q from %q, want %q from %q", url, from, wantURL, wantFrom)
		}
	}
	check("nats://127.0.0.1:4222", "nats.embedded (triggerflow all)")
	cfg.NATS.URL = "nats://file:4222"
	check("nats://file:4222", "nats.url")
	env["NATS_URL"] = "nats://env:4222"
	check("nats://env:4222", "$NATS_URL")
	o.server = "nats://flag:4222"
	check("nats://flag:4222", "--server")
}

// TestOpsConfig: without --config a missing default file means defaults; an explicit
// missing file, or a wrong nats.* setting, is an error naming it.
func TestOpsConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("TRIGGERFLOW_CONFIG", "")
	o := &opsFlags{}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	o.register(fs, true)
	if _, err := o.loadConfig(); err != nil {
		t.Fatalf("no default file: %v", err)
	}
	if err := fs.Parse([]string{"--config", "missing.yaml"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.loadConfig(); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("explicit missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("nats:\n  url: nats://x:4222\n  password: inline\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.config = bad
	if _, err := o.loadConfig(); err == nil || !strings.Contains(err.Error(), "nats.password") {
		t.Fatalf("inline nats.password: %v", err)
	}
}
