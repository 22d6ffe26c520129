//go:build !unix

package securechangetest

import (
	"os"
	"os/exec"
)

// killProcessGroup is a no-op where process groups are not available: a timeout kills only the
// script itself.
func killProcessGroup(*exec.Cmd) {}

func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	return ps.ExitCode()
}
