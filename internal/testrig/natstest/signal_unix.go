//go:build unix

package natstest

import "syscall"

// Pause freezes the process (SIGSTOP): connections stay open and nothing answers, as
// with a broker that hangs. Resume undoes it; Stop and Kill need it resumed first.
func (p *Process) Pause() { p.signal(syscall.SIGSTOP) }

// Resume lets a paused process run again (SIGCONT).
func (p *Process) Resume() { p.signal(syscall.SIGCONT) }

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// processAlive reports whether a process with this pid exists (one of another user's
// counts).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
