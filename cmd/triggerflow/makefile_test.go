package main_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestMakePKGFocus: PKG= focuses make vet (and make test, through the same skip-module and
// no-module recipes) on packages of one module: the other module is skipped, saying why,
// rather than failed; a PKG that names a package in no module fails, saying so.
func TestMakePKGFocus(t *testing.T) {
	t.Parallel()
	run := func(pkg string) (int, string) {
		cmd := exec.Command(needMake(t), "-C", "../..", "--no-print-directory", "vet", "PKG="+pkg)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("make vet PKG=%s: %v\n%s", pkg, err, out)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out := run("./internal/testrig/natstest/")
	if code != 0 || !strings.Contains(out, "pkg/events skipped: PKG=./internal/testrig/natstest/ names no package in it (") {
		t.Errorf("a package of the root module: exit %d, want 0 and pkg/events skipped:\n%s", code, out)
	}
	code, out = run("./internal/nosuchpackage/...")
	if code == 0 || !strings.Contains(out, "PKG=./internal/nosuchpackage/... names no package in any module (") {
		t.Errorf("a package of no module: exit %d, want a failure that says so:\n%s", code, out)
	}
}
