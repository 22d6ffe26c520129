package natstest_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// TestNATSCLI: the pinned nats CLI builds and runs.
func TestNATSCLI(t *testing.T) {
	out, err := exec.Command(filepath.Join(natstest.NATSCLI(t), "nats"), "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0.5.1") {
		t.Fatalf("nats --version: %v\n%s", err, out)
	}
}
