//go:build unix

package securechangetest

import (
	"os"
	"os/exec"
	"syscall"
)

// killProcessGroup makes the script lead its own process group, so that a timeout kills the
// script and whatever it started (curl, python), not only the shell.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// exitCode reports a script's exit status the way a shell does: 128+signal when killed.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
