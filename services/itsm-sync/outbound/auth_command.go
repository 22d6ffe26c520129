package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
)

// Bounds of what a token command may print.
const (
	maxCommandStdout = 64 << 10
	maxCommandStderr = 4 << 10
	stderrExcerpt    = 200
)

// commandFetcher runs an executable (argv, no shell) whose trimmed standard output is the
// token.
type commandFetcher struct {
	path    string // servers.<name>.auth.command
	cfg     config.CommandAuth
	scheme  string
	secrets *redactor
}

func newCommandAuth(path string, c config.CommandAuth, secrets *redactor) *tokenAuth {
	header, scheme := headerScheme(c.Header, c.Scheme)
	f := &commandFetcher{path: path, cfg: c, scheme: scheme, secrets: secrets}
	return &tokenAuth{header: header, cache: newTokenCache(f.fetch)}
}

func (f *commandFetcher) fetch(ctx context.Context) (token, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.cfg.Command[0], f.cfg.Command[1:]...)
	stdout := &capped{max: maxCommandStdout}
	stderr := &capped{max: maxCommandStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second // a child that keeps the pipes open does not hang us
	err := cmd.Run()
	name := f.cfg.Command[0]
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return token{}, 0, fmt.Errorf("%s: %s did not finish within %s: %w", f.path, name, f.cfg.Timeout, context.Cause(ctx))
	default:
		var exit *exec.ExitError
		if !errors.As(err, &exit) { // not found, not executable: no retry helps
			return token{}, 0, failure.Permanent(fmt.Errorf("%s: %w", f.path, err))
		}
		msg := fmt.Sprintf("%s: %s failed (%s)", f.path, name, exit.ProcessState)
		if s := egress.Snippet(stderr.Bytes(), f.secrets.list(), stderrExcerpt); s != "" {
			msg += ": " + s
		}
		return token{}, 0, errors.New(msg)
	}
	tok := strings.TrimSpace(stdout.String())
	if tok == "" {
		return token{}, 0, fmt.Errorf("%s: %s printed %w on its standard output", f.path, name, errNoToken)
	}
	if stdout.over {
		return token{}, 0, fmt.Errorf("%s: %s printed more than %d bytes", f.path, name, maxCommandStdout)
	}
	f.secrets.add(tok)
	return token{value: tok, scheme: f.scheme, expiry: time.Now().Add(f.cfg.CacheFor)}, 0, nil
}

// capped is a buffer that keeps the first max bytes written to it.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); len(p) > room {
		c.over = true
		c.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.Buffer.Write(p)
}
