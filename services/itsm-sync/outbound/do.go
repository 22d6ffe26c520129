package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
)

// maxErrorBody is how much of a non-2xx body is read (for the excerpt and to reuse the
// connection).
const maxErrorBody = 64 << 10

// errTimeout is the cause of a request that ran out of servers.<name>.timeout.
var errTimeout = errors.New("timeout")

// Do sends r. It waits for a concurrency slot and the rate limiter (both bound to ctx),
// asks the circuit breaker (an open breaker fails at once, without sending), then sends
// with the server's timeout, headers and auth. A 2xx is a Response; anything else is an
// *Error (see Error for how it is wrapped). A 401 with a fetched token (oauth2, command)
// is retried once with a fresh token.
func (s *Server) Do(ctx context.Context, r Request) (Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	target, err := s.url(r.Path)
	if err != nil {
		return Response{}, s.fail(Permanent, method, r.Path, err).wrap()
	}
	if err := checkHeaders(r.Headers); err != nil {
		return Response{}, s.fail(Permanent, method, r.Path, err).wrap()
	}

	// A slot first, then the limiter: the rate then holds at the moment of sending.
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return Response{}, s.notSent(s.callerDone(method, r.Path, ctx, "waiting for a concurrency slot"))
	}
	defer func() { <-s.slots }()
	if err := s.wait(ctx); err != nil {
		return Response{}, s.notSent(s.callerDone(method, r.Path, ctx, "waiting for the rate limit: "+err.Error()))
	}

	done := func(error) {}
	if s.breaker != nil {
		d, wait, hasWait, err := s.breaker.allow()
		if err != nil {
			why := "a probe is in flight"
			if hasWait {
				wait = min(wait, s.cfg.Retry.MaxRetryAfter)
				why = "next probe in " + roundDuration(wait).String()
			}
			e := s.fail(Transient, method, r.Path, fmt.Errorf("not sent: circuit breaker open after %d consecutive transient failures (%w); %s",
				s.breaker.failures, err, why))
			e.BreakerOpen, e.RetryAfter, e.HasRetryAfter = true, wait, hasWait
			return Response{}, e.wrap()
		}
		done = d
	}

	resp, e := s.send(ctx, method, target, r)
	switch {
	case e == nil || e.Class == Permanent:
		done(nil)
	case e.callerDone:
		done(errCallerDone)
	default:
		done(errTransientOutcome)
		// This failure tripped the breaker, or was its failed probe: the server is down
		// for everyone, not just for this operation.
		e.Outage = s.breaker != nil && s.breaker.state() != "closed"
	}
	if e != nil {
		return Response{}, e.wrap()
	}
	return resp, nil
}

// wait takes a token from the rate limiter.
func (s *Server) wait(ctx context.Context) error {
	if s.limiter == nil {
		return nil
	}
	return s.limiter.Wait(ctx)
}

// send makes the request, and once more after a 401 when the auth can fetch a fresh token.
func (s *Server) send(ctx context.Context, method, target string, r Request) (Response, *Error) {
	resp, used, e := s.sendOnce(ctx, method, target, r)
	if e == nil || e.Status != http.StatusUnauthorized || s.auth == nil || !s.auth.invalidate(used) {
		return resp, e
	}
	if err := s.wait(ctx); err != nil {
		return Response{}, s.callerDone(method, r.Path, ctx, "waiting for the rate limit: "+err.Error())
	}
	resp, _, e = s.sendOnce(ctx, method, target, r)
	return resp, e
}

func (s *Server) sendOnce(ctx context.Context, method, target string, r Request) (Response, string, *Error) {
	var body io.Reader
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return Response{}, "", s.fail(Permanent, method, r.Path, err)
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	if len(r.Body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if h := s.cfg.IdempotencyHeader; h != "-" && h != "" && r.IdempotencyKey != "" {
		req.Header.Set(h, r.IdempotencyKey)
	}
	used := ""
	if s.auth != nil {
		// token fetches have their own time limits; the request's starts after them
		if used, err = s.auth.apply(ctx, req); err != nil {
			class := Transient
			if failure.IsPermanent(err) {
				class = Permanent
			}
			e := s.fail(class, method, r.Path, fmt.Errorf("not sent: %w", err))
			e.callerDone = ctx.Err() != nil
			return Response{}, "", e
		}
	}

	rctx, cancel := context.WithTimeoutCause(ctx, s.cfg.Timeout, errTimeout)
	defer cancel()
	start := time.Now()
	resp, err := s.client.Do(req.WithContext(rctx))
	if err != nil {
		return Response{}, used, s.transportError(ctx, rctx, method, r.Path, err, time.Since(start))
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := int64(maxErrorBody)
	if ok {
		limit = MaxBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	latency := time.Since(start)
	if err != nil {
		e := s.transportError(ctx, rctx, method, r.Path, fmt.Errorf("reading the answer (%s): %w", resp.Status, err), latency)
		e.Status = resp.StatusCode
		return Response{}, used, e
	}
	if !ok {
		return Response{}, used, s.statusError(method, r.Path, resp, data[:min(len(data), maxErrorBody)], latency)
	}
	if len(data) > MaxBody {
		e := s.fail(Permanent, method, r.Path, fmt.Errorf("%s: response exceeds 1 MiB", resp.Status))
		e.Status, e.Latency, e.Excerpt = resp.StatusCode, latency, s.Excerpt(data)
		return Response{}, used, e
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Latency: latency}, used, nil
}

// url is the request URL of path: base_url + path, on base_url's host only.
func (s *Server) url(path string) (string, error) {
	if path != "" && path[0] != '/' && path[0] != '?' {
		return "", fmt.Errorf("path %q must start with /", path)
	}
	beforeQuery, _, _ := strings.Cut(path, "?")
	if strings.HasPrefix(path, "//") || strings.Contains(beforeQuery, "://") {
		return "", fmt.Errorf("path %q must be a path on %s.base_url, not a URL: outbound hosts come only from config", path, s.path)
	}
	target := s.baseStr + path
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("path %q: %w", path, errors.Unwrap(err))
	}
	if u.Scheme != s.base.Scheme || u.Host != s.base.Host || u.User != nil {
		return "", fmt.Errorf("path %q leaves %s.base_url", path, s.path)
	}
	return target, nil
}

// checkHeaders rejects action headers that cannot be sent.
func checkHeaders(h map[string]string) error {
	for k, v := range h {
		if !config.ValidHeaderName(k) {
			return fmt.Errorf("header %q is not a valid header name", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("header %s: the value holds a line break or NUL", k)
		}
	}
	return nil
}

// fail is an *Error about method path with cause err.
func (s *Server) fail(class Class, method, path string, err error) *Error {
	return &Error{Server: s.name, Class: class, Err: fmt.Errorf("server %s: %s %s: %w", s.name, method, path, err)}
}

// callerDone is the failure of a call whose context ended before it was sent.
// notSent marks e as a failure before the request went out (wrapped).
func (s *Server) notSent(e *Error) error {
	e.NotSent = true
	return e.wrap()
}

func (s *Server) callerDone(method, path string, ctx context.Context, what string) *Error {
	cause := context.Cause(ctx)
	if cause == nil { // the limiter saw that ctx's deadline comes before the next token
		cause = context.DeadlineExceeded
	}
	e := s.fail(Transient, method, path, fmt.Errorf("%s: %w", what, cause))
	e.callerDone = true
	return e
}

// transportError classifies a request that got no (complete) answer.
func (s *Server) transportError(ctx, rctx context.Context, method, path string, err error, latency time.Duration) *Error {
	var e *Error
	cause := unwrapURLError(err)
	switch {
	case ctx.Err() != nil:
		e = s.fail(Transient, method, path, fmt.Errorf("%w (%w)", cause, context.Cause(ctx)))
		e.callerDone = true
	case errors.Is(context.Cause(rctx), errTimeout):
		e = s.fail(Transient, method, path, fmt.Errorf("no complete answer within %s (%s.timeout): %w", s.cfg.Timeout, s.path, context.DeadlineExceeded))
	case egress.IsCertError(err):
		e = s.fail(Permanent, method, path, fmt.Errorf("%w; if the server's certificate is issued by a private CA, set %s.tls.ca_file", cause, s.path))
	case isClientCertRefused(err):
		e = s.fail(Permanent, method, path, fmt.Errorf("%w; the server wants a client certificate it trusts: check %s.tls.cert_file and key_file", cause, s.path))
	default:
		e = s.fail(Transient, method, path, cause)
	}
	e.Latency = latency
	return e
}

// statusError classifies a non-2xx answer.
func (s *Server) statusError(method, path string, resp *http.Response, body []byte, latency time.Duration) *Error {
	e := &Error{Server: s.name, Status: resp.StatusCode, Excerpt: s.Excerpt(body), Latency: latency, Class: Permanent}
	if d, ok := egress.RetryAfter(resp.Header.Get("Retry-After"), time.Now(), s.cfg.Retry.MaxRetryAfter); ok {
		e.RetryAfter, e.HasRetryAfter = d, true
	}
	var hint string
	switch code := resp.StatusCode; {
	case failure.TransientStatus(code):
		e.Class = Transient
		if e.HasRetryAfter {
			hint = fmt.Sprintf(" (retry after %s)", roundDuration(e.RetryAfter))
		}
	case code >= 300 && code < 400:
		hint = fmt.Sprintf(" (redirect to %q, not followed: check %s.base_url)",
			egress.Snippet([]byte(resp.Header.Get("Location")), s.secrets.list(), 200), s.path)
	case code == http.StatusUnauthorized:
		hint = fmt.Sprintf(" (credentials refused: check %s.auth)", s.path)
	}
	msg := fmt.Sprintf("server %s: %s %s: %s%s", s.name, method, path, resp.Status, hint)
	if e.Excerpt != "" {
		msg += ": " + e.Excerpt
	}
	e.Err = errors.New(msg)
	return e
}

// unwrapURLError drops *url.Error's `Post "https://…":` prefix (the request line is in
// our own message).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// isClientCertRefused: the server ended the TLS handshake with an alert about our
// certificate (none sent, or not trusted).
func isClientCertRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && op.Err != nil && strings.Contains(op.Err.Error(), "certificate")
}

// roundDuration rounds d for a message: to the second from a second on.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
