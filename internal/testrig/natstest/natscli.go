package natstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NATSCLIModule is the stock nats CLI the README's recipes and the alert emails'
// commands are tested with, pinned (the Makefile's NATS_CLI names the same version).
const NATSCLIModule = "github.com/nats-io/natscli/nats@v0.5.1"

// NATSCLI builds the pinned nats CLI through the Go module proxy (once per test binary)
// and returns the directory holding its `nats` executable, to put first on PATH so that
// documented commands run exactly as written.
func NATSCLI(t testing.TB) string {
	t.Helper()
	dir := BuildOnce(t, "the nats CLI", func() (string, error) {
		dir, err := BinDir("natstest-cli-")
		if err != nil {
			return "", err
		}
		cmd := exec.Command("go", "install", NATSCLIModule)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-mod=mod")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go install %s: %v\n%s", NATSCLIModule, err, out)
		}
		return dir, nil
	})
	if _, err := os.Stat(filepath.Join(dir, "nats")); err != nil {
		t.Fatalf("natstest: the nats CLI is not in %s: %v", dir, err)
	}
	return dir
}
