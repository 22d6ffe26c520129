package natstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// NATSCLIModule is the stock nats CLI the README's recipes and the alert emails'
// commands are tested with, pinned (the Makefile's NATS_CLI names the same version).
const NATSCLIModule = "github.com/nats-io/natscli/nats@v0.5.1"

var (
	cliOnce sync.Once
	cliDir  string
	cliErr  error
)

// NATSCLI builds the pinned nats CLI through the Go module proxy (once per test binary)
// and returns the directory holding its `nats` executable, to put first on PATH so that
// documented commands run exactly as written.
func NATSCLI(t testing.TB) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natstest-cli-")
		if err != nil {
			cliErr = err
			return
		}
		cmd := exec.Command("go", "install", NATSCLIModule)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-mod=mod")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go install %s: %v\n%s", NATSCLIModule, err, out)
			return
		}
		cliDir = dir
	})
	if cliErr != nil {
		t.Fatalf("natstest: %v", cliErr)
	}
	if _, err := os.Stat(filepath.Join(cliDir, "nats")); err != nil {
		t.Fatalf("natstest: the nats CLI is not in %s: %v", cliDir, err)
	}
	return cliDir
}
