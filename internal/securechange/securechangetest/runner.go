package securechangetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Defaults of Runner.
const (
	// DefaultMaxAttempts is SecureChange's "up to a maximum of five times".
	DefaultMaxAttempts = 5
	// DefaultTimeout bounds one attempt.
	DefaultTimeout = 60 * time.Second
	// waitDelay bounds how long an attempt waits for its output pipes after the script exited
	// or was killed (a leftover child may hold them open).
	waitDelay = 2 * time.Second
)

// Attempt is one run of the script.
type Attempt struct {
	// ExitCode is the script's exit status; a script killed by a signal gets 128+signal, as
	// a shell would report it.
	ExitCode       int
	Stdout, Stderr string
	Duration       time.Duration
	// TimedOut is set when the attempt was killed because it ran longer than Runner.Timeout.
	TimedOut bool
}

// Result of one trigger: every attempt, in order.
type Result struct {
	Attempts []Attempt
}

// OK reports whether the last attempt exited 0.
func (r Result) OK() bool {
	return len(r.Attempts) > 0 && r.Last().ExitCode == 0
}

// Last returns the last attempt, or the zero Attempt when there was none.
func (r Result) Last() Attempt {
	if len(r.Attempts) == 0 {
		return Attempt{}
	}
	return r.Attempts[len(r.Attempts)-1]
}

// Runner runs a script the way SecureChange does: the ticket XML on stdin, SCW_EVENT set in the
// environment, the configured arguments on argv, retried while the exit code is non-zero, up to
// MaxAttempts (default 5), with Backoff between attempts (default 0: tests must not sleep for
// long), and a per-attempt Timeout (default 60s).
//
// The script's environment is minimal, like SecureChange's: PATH and HOME from the calling
// process, LANG=C.UTF-8, SCW_EVENT, then Env (KEY=VALUE entries; a key in Env wins).
type Runner struct {
	Script      string
	Args        []string
	Env         []string
	MaxAttempts int
	Backoff     time.Duration
	Timeout     time.Duration
}

// Run runs one trigger named event (CREATE, ADVANCE, …, or TEST for SecureChange's Test button)
// with ticketXML on stdin (nil: empty stdin). An empty event leaves SCW_EVENT unset, as when an
// admin runs the script by hand.
//
// Its error is non-nil only if the script could not be started (the Result then holds the
// attempts made before), or if ctx ended between attempts (the Result holds the attempts made).
func (r Runner) Run(ctx context.Context, event string, ticketXML []byte) (Result, error) {
	maxAttempts := r.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	env := r.environ(event)
	var res Result
	for i := range maxAttempts {
		if i > 0 {
			if err := wait(ctx, r.Backoff); err != nil {
				return res, fmt.Errorf("run %s: before attempt %d: %w", r.Script, i+1, err)
			}
		}
		a, err := r.attempt(ctx, env, ticketXML)
		if err != nil {
			return res, err
		}
		res.Attempts = append(res.Attempts, a)
		if a.ExitCode == 0 {
			break
		}
	}
	return res, nil
}

func wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r Runner) attempt(ctx context.Context, env []string, ticketXML []byte) (Attempt, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(actx, r.Script, r.Args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(ticketXML)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = waitDelay
	killProcessGroup(cmd)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Attempt{}, fmt.Errorf("run %s: %w", r.Script, err)
	}
	err := cmd.Wait()
	a := Attempt{
		Stdout:   stdout.String(),
		Stderr:   stderr.String(),
		Duration: time.Since(start),
		TimedOut: errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil,
	}
	a.ExitCode = exitCode(cmd.ProcessState)
	if a.ExitCode == 0 && err != nil {
		// Exit 0 but Wait failed (e.g. the output pipes stayed open past WaitDelay):
		// SecureChange would not see a clean run either.
		a.ExitCode = -1
	}
	return a, nil
}

// environ builds the script's environment.
func (r Runner) environ(event string) []string {
	base := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"LANG=C.UTF-8",
	}
	if event != "" {
		base = append(base, "SCW_EVENT="+event)
	}
	var env []string
	index := map[string]int{}
	for _, kv := range append(base, r.Env...) {
		key, _, _ := strings.Cut(kv, "=")
		if i, ok := index[key]; ok {
			env[i] = kv
			continue
		}
		index[key] = len(env)
		env = append(env, kv)
	}
	return env
}
