package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestTracingConfig: tracing is off by default; every problem of the tracing section is
// reported with its key and line, and header values are resolved from env or file,
// never printed.
func TestTracingConfig(t *testing.T) {
	t.Setenv("TF_OTLP_TOKEN", "Bearer hunter2")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("hunter3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := config.Default()
	if d.Tracing.Enabled() || d.Tracing.Exporter != "none" || d.Tracing.Ratio() != 1 || d.Tracing.ServiceName != "triggerflow" {
		t.Fatalf("default tracing: %+v ratio %v", d.Tracing, d.Tracing.Ratio())
	}

	ok := "tracing:\n" + // 1
		"  exporter: otlp\n" + // 2
		"  endpoint: https://otel.example:4318\n" + // 3
		"  sample_ratio: 0.25\n" + // 4
		"  headers:\n" + // 5
		"    Authorization: {value_env: TF_OTLP_TOKEN}\n" + // 6
		"    X-Api-Key: {value_file: " + tokenFile + "}\n" + // 7
		"    X-Scope-OrgID: {value: tenant-1}\n" // 8
	cfg, err := config.Parse("t.yaml", []byte(ok))
	if err != nil {
		t.Fatalf("valid tracing section: %v", err)
	}
	if !cfg.Tracing.Enabled() || cfg.Tracing.Ratio() != 0.25 {
		t.Fatalf("parsed: %+v", cfg.Tracing)
	}
	hs, err := cfg.Tracing.ResolveHeaders()
	if err != nil {
		t.Fatal(err)
	}
	if hs["Authorization"].Reveal() != "Bearer hunter2" || hs["X-Api-Key"].Reveal() != "hunter3" || hs["X-Scope-OrgID"].Reveal() != "tenant-1" {
		t.Fatal("header values not resolved")
	}
	if s := fmt.Sprint(hs); strings.Contains(s, "hunter") {
		t.Fatalf("a header value printed: %s", s)
	}

	cases := []struct {
		name, yaml string
		want       []string // "LINE path: substring"
	}{
		{"unknown exporter", "tracing:\n  exporter: jaeger\n", []string{`2 tracing.exporter: "jaeger" is not one of none, otlp`}},
		{"ratio out of range", "tracing:\n  sample_ratio: 1.5\n", []string{"2 tracing.sample_ratio: 1.5 is out of range (0 to 1)"}},
		{"endpoint not a URL", "tracing:\n  exporter: otlp\n  endpoint: otel:4318\n", []string{"3 tracing.endpoint: not an http(s) URL"}},
		{"plain http without insecure", "tracing:\n  exporter: otlp\n  endpoint: http://otel:4318\n", []string{`3 tracing.endpoint: "http://otel:4318" is plain http: set tracing.insecure: true`}},
		{"insecure with https", "tracing:\n  exporter: otlp\n  endpoint: https://otel:4318\n  insecure: true\n", []string{"4 tracing.insecure: is true but tracing.endpoint"}},
		{"credentials in the endpoint", "tracing:\n  exporter: otlp\n  endpoint: https://u:hunter2@otel:4318\n", []string{"3 tracing.endpoint: must not hold credentials"}},
		{"inline credential", "tracing:\n  headers:\n    Authorization: {value: Bearer hunter2}\n", []string{"3 tracing.headers.Authorization.value: inline secrets are not accepted; use value_env or value_file"}},
		{"missing env", "tracing:\n  headers:\n    Authorization: {value_env: TF_OTLP_UNSET}\n", []string{"3 tracing.headers.Authorization.value_env: environment variable TF_OTLP_UNSET is not set"}},
		{"header with no value", "tracing:\n  headers:\n    X-A: {}\n", []string{"3 tracing.headers.X-A: set one of value, value_env and value_file"}},
		{"bad header name", "tracing:\n  headers:\n    'X A': {value: b}\n", []string{`3 tracing.headers.X A: "X A" is not a valid header name`}},
		{"tls with insecure", "tracing:\n  exporter: otlp\n  endpoint: http://otel:4318\n  insecure: true\n  tls: {insecure_skip_verify: true}\n", []string{"5 tracing.tls: is set but tracing.insecure sends plain HTTP"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yaml, tc.want) })
	}

	// Knobs that do nothing while tracing is off are a warning, not a problem.
	cfg, err = config.Parse("t.yaml", []byte("tracing:\n  endpoint: https://otel:4318\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Path != "tracing.exporter" {
		t.Fatalf("warnings: %v", cfg.Warnings)
	}
}
