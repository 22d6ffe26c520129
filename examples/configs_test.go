package examples_test

import (
	"path/filepath"
	"testing"

	"github.com/triggerflow/triggerflow/internal/configcheck"
)

// TestExampleConfigsCheck: every example config passes every check `triggerflow config
// check` runs (configcheck.Check), templates included, without a warning (every create
// has a lookup).
func TestExampleConfigsCheck(t *testing.T) {
	for _, env := range []string{"TRIGGERFLOW_MEDIATOR_PASSWORD", "SC_PASSWORD", "SNOW_PASSWORD", "JIRA_TOKEN", "SMTP_PASSWORD"} {
		t.Setenv(env, "x")
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		cfg, problems, err := configcheck.Check(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range problems {
			t.Errorf("%s:%d: %v", f, p.Line, p)
		}
		for _, w := range cfg.Warnings {
			t.Errorf("%s:%d: warning: %v", f, w.Line, w)
		}
	}
}
