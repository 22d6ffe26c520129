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
	setExampleSecrets(t)
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

// exampleSecrets are the environment variables the example configs read their secrets from.
var exampleSecrets = []string{
	"TRIGGERFLOW_MEDIATOR_PASSWORD", "SC_PASSWORD", "SNOW_PASSWORD", "JIRA_TOKEN", "SMTP_PASSWORD",
	"SNOW_CALLBACK_SECRET", "ITSM_CALLBACK_TOKEN", // inbound callbacks (servicenow.yaml, webhook-inbound.yaml)
}

// setExampleSecrets sets every secret of the example configs, so that they pass their check.
func setExampleSecrets(t *testing.T) {
	t.Helper()
	for _, env := range exampleSecrets {
		t.Setenv(env, "x")
	}
}
