package rewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// runCommand runs an executable plugin.
func (r *Rewriter) runCommand(ctx context.Context, p *plugin, input []byte) ([]byte, error) {
	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, p.argv[0], p.argv[1:]...)
	cmd.Stdin = bytes.NewReader(input)
	stdout := &capBuffer{limit: maxOutput}
	stderr := &capBuffer{limit: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The leader is not reaped yet, so its pid still names its process group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("rewrite plugin %q: %w", p.name, ctx.Err())
		case runCtx.Err() != nil:
			return nil, fmt.Errorf("rewrite plugin %q: timed out after %s; process group killed%s", p.name, p.timeout, stderr.snippet())
		}
		var ee *exec.ExitError
		switch {
		case errors.Is(err, exec.ErrWaitDelay):
			return nil, fmt.Errorf("rewrite plugin %q: a process it started kept its output open after it exited%s", p.name, stderr.snippet())
		case errors.As(err, &ee):
			how := fmt.Sprintf("exited with status %d", ee.ExitCode())
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				how = "was killed by signal " + ws.Signal().String()
			}
			return nil, fmt.Errorf("rewrite plugin %q: %s%s", p.name, how, stderr.snippet())
		default:
			return nil, fmt.Errorf("rewrite plugin %q: cannot run %s: %w", p.name, p.argv[0], err)
		}
	}
	if stdout.over {
		return nil, fmt.Errorf("rewrite plugin %q: unreadable output: more than %d bytes", p.name, maxOutput)
	}
	if stderr.Len() > 0 {
		r.log.Debug("rewrite plugin stderr", "plugin", p.name, "stderr", stderr.snippet())
	}
	return stdout.Bytes(), nil
}

// post runs an HTTP plugin.
func (r *Rewriter) post(ctx context.Context, p *plugin, input []byte) ([]byte, error) {
	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(runCtx, http.MethodPost, p.url, bytes.NewReader(input))
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("rewrite plugin %q: %w", p.name, err))
	}
	ct := "text/plain; charset=utf-8"
	if p.format == formatJSON {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", ct)
	req.Header.Set("User-Agent", "triggerflow-dispatcher")
	timedOut := func(err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("rewrite plugin %q: %w", p.name, ctx.Err())
		case runCtx.Err() != nil:
			return fmt.Errorf("rewrite plugin %q: timed out after %s", p.name, p.timeout)
		}
		return fmt.Errorf("rewrite plugin %q: %w", p.name, err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, timedOut(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput+1))
	if err != nil {
		return nil, timedOut(fmt.Errorf("read response: %w", err))
	}
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		if len(body) > maxOutput {
			return nil, fmt.Errorf("rewrite plugin %q: unreadable output: more than %d bytes", p.name, maxOutput)
		}
		return body, nil
	}
	msg := fmt.Errorf("rewrite plugin %q: HTTP %s%s", p.name, resp.Status, bodySnippet(body))
	if failure.TransientStatus(code) {
		return nil, msg
	}
	return nil, failure.Permanent(msg)
}

// capBuffer keeps the first limit bytes written to it and drops the rest, so a
// plugin that writes too much is never blocked on a full pipe.
type capBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); room < len(p) {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// snippet is the captured stderr for an error message: "" or "; stderr: …".
func (b *capBuffer) snippet() string {
	s := strings.TrimSpace(strings.ToValidUTF8(b.String(), "\uFFFD"))
	if s == "" {
		return ""
	}
	if b.over {
		s += " …"
	}
	return "; stderr: " + s
}

// bodySnippet is an HTTP error body for an error message: "" or ": …".
func bodySnippet(body []byte) string {
	if len(body) > maxStderr {
		body = append(body[:maxStderr:maxStderr], " …"...)
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if s == "" {
		return ""
	}
	return ": " + s
}

// outputSnippet shows the start of an unreadable output in its error.
func outputSnippet(out []byte) string {
	if len(bytes.TrimSpace(out)) == 0 {
		return " (the output is empty)"
	}
	const n = 200
	s := out
	if len(s) > n {
		s = s[:n]
	}
	q := strconv.Quote(strings.ToValidUTF8(string(s), "\uFFFD"))
	if len(out) > n {
		q += "…"
	}
	return " (the output starts " + q + ")"
}
