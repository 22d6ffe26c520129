// Package securechange is the client of SecureChange's REST API that every service
// shares: it reads tickets (GET with retries) and performs the write-backs seed 000's
// custom script and Tufin's SDKs perform (update fields, approve/reject, advance, redo,
// reject the ticket). Errors are classified once, with internal/failure: permanent
// (no retry can fix it) or transient (the caller retries through JetStream, honouring
// failure.RetryAfter).
package securechange

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

// ErrAccess is wrapped by the error every call returns when SecureChange answers 401
// or 403: the configured credentials are wrong or lack permission. It is not permanent
// (an admin fixes the credentials and the redelivered message succeeds) but it is not
// retried inside the call either, and deserves an alert.
var ErrAccess = errors.New("SecureChange refused access")

const (
	// maxBackoff caps one wait between retries.
	maxBackoff = 10 * time.Second
	// maxRetryAfter caps how long a Retry-After header can make us wait.
	maxRetryAfter = 30 * time.Second
	// maxTicketBytes bounds a ticket response; real tickets with large access
	// requests reach a few MiB.
	maxTicketBytes = 32 << 20
	// maxSnippet is the most of a response body quoted in an error.
	maxSnippet = 200
	// errBodyRead is how much of an error response is read to quote it.
	errBodyRead = 4 << 10
	// maxTicketID is the most digits a ticket id may have (an int64), here, in
	// DecodeTicket and in DecodeTicketInfo.
	maxTicketID = 19

	userAgent = "triggerflow"
)

// Client talks to SecureChange's REST API with HTTP basic auth: it reads tickets
// (GET {url}/tickets/{id}.json, see Ticket) and writes back to them (writeback*.go).
// It is safe for concurrent use.
type Client struct {
	base    string // the API base, without a trailing slash
	user    string
	pass    config.Secret
	http    *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	log     *slog.Logger
	// secrets are literal strings stripped from quoted response bodies.
	secrets []string
}

// New builds the client of c, which config.Validate has accepted (as config.Load
// leaves it: defaults set, checked); it does not check c again. It resolves the user
// and password (the environment or a file may have changed since) and builds the HTTP
// client; those, and TLS files that no longer read, are the only errors, and none
// contains a secret. TLS verification is on unless c.TLS.InsecureSkipVerify, which is
// logged at WARN here, once, as is a plain-http URL. c.Retries apply to reading
// tickets (a write is one request). A nil log is slog.Default().
func New(c config.SecureChange, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.Default()
	}
	user, err := config.ResolveUser("securechange.user", c.User, c.UserEnv)
	if err != nil {
		return nil, err
	}
	pass, err := c.PasswordRef().ResolveAt("securechange.password")
	if err != nil {
		return nil, err
	}
	tc, err := egress.TLSConfig("securechange.tls", c.TLS, log,
		"anyone on the path can impersonate SecureChange, read its password and feed forged tickets to the routes")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(strings.ToLower(c.URL), "http://") {
		log.Warn("securechange.url uses plain http: the SecureChange password and tickets travel unencrypted", "url", c.URL)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 8

	cl := &Client{
		base: strings.TrimRight(c.URL, "/"),
		user: user,
		pass: pass,
		http: &http.Client{
			Transport: tr,
			// A redirect is a misconfigured URL (http→https, a login page); following
			// it could carry the credentials somewhere unintended. It is reported.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: c.Timeout,
		retries: c.RetryCount(),
		backoff: c.RetryBackoff,
		log:     log,
	}
	if p := pass.Reveal(); len(p) >= 4 {
		cl.secrets = append(cl.secrets, p)
	}
	cl.secrets = append(cl.secrets, base64.StdEncoding.EncodeToString([]byte(user+":"+pass.Reveal())))
	return cl, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Traced makes every request a client span named securechange.http, child of the
// request's context, carrying that span's traceparent (W3C Trace Context); a nil tp
// records nothing. Call it before the client is used. It returns c.
func (c *Client) Traced(tp trace.TracerProvider) *Client {
	c.http.Transport = tracing.Transport(c.http.Transport, tp, tracing.SpanSecureChange)
	return c
}

// failedAttempt is the outcome of one failed request.
type failedAttempt struct {
	err error
	// final: do not retry (the error already names the ticket).
	final bool
	// retryAfter is the server's Retry-After, clamped; 0 if none.
	retryAfter time.Duration
}

// Ticket fetches and decodes GET {URL}/tickets/{id}.json (Accept: application/json,
// basic auth).
//
// Network errors, per-request timeouts (securechange.timeout), 408, 429 and 5xx are
// retried up to securechange.retries times with exponential backoff (doubling from
// securechange.retry_backoff, ±20 % jitter, at most 10s; a Retry-After of up to 30s is
// honoured); the error after the last attempt is transient. It stops as soon as ctx ends,
// and at once when ctx's deadline would pass before the next attempt.
//
// Errors marked Permanent: an id that is not 1 to 19 digits (no request is made), 404,
// other 4xx, a body that is not a ticket (wrapping ErrBadTicketJSON) and a ticket
// with another id. Transient but not retried here: 401/403 (wrapping
// ErrAccess), a redirect, and a server certificate that does not verify;
// these need an admin, and the redelivered trigger then succeeds.
//
// Errors name the ticket and the HTTP status and quote at most 200 bytes of the response
// body with anything that looks like a secret replaced by [REDACTED].
func (c *Client) Ticket(ctx context.Context, id string) (Ticket, error) {
	if !validTicketID(id) {
		return Ticket{}, failure.Permanent(fmt.Errorf("securechange: ticket id %s is not a number of 1 to %d digits", quoteID(id), maxTicketID))
	}
	target := c.base + "/tickets/" + id + ".json"
	var last error
	for n := 1; ; n++ {
		t, a := c.attempt(ctx, target, id)
		if a == nil {
			return t, nil
		}
		if a.final {
			return Ticket{}, a.err
		}
		if ctx.Err() != nil {
			return Ticket{}, c.stopped(ctx, id, n, a.err)
		}
		last = a.err
		if n > c.retries {
			return Ticket{}, fmt.Errorf("securechange: ticket %s: giving up after %d attempts: %w", id, n, last)
		}
		wait := max(retryWait(c.backoff, n-1), a.retryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return Ticket{}, fmt.Errorf("securechange: ticket %s: giving up after %d attempts, the next one (in %s) would come after the deadline: %w",
				id, n, wait.Round(time.Millisecond), last)
		}
		c.log.Debug("securechange: request failed, retrying", "ticket", id, "attempt", n, "wait", wait, "error", last.Error())
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Ticket{}, c.stopped(ctx, id, n, last)
		case <-timer.C:
		}
	}
}

// stopped is the error when ctx ended: it wraps ctx.Err() and quotes the last failure.
func (c *Client) stopped(ctx context.Context, id string, attempts int, last error) error {
	if last == nil {
		return fmt.Errorf("securechange: ticket %s: %w", id, ctx.Err())
	}
	return fmt.Errorf("securechange: ticket %s: %w after %d attempts (last error: %v)", id, ctx.Err(), attempts, last)
}

// attempt makes one request. A nil *failedAttempt means success.
func (c *Client) attempt(ctx context.Context, target, id string) (Ticket, *failedAttempt) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil { // the base URL was validated and id is digits: cannot happen
		return Ticket{}, &failedAttempt{err: failure.Permanent(fmt.Errorf("securechange: ticket %s: %w", id, err)), final: true}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(c.user, c.pass.Reveal())

	resp, err := c.http.Do(req)
	if err != nil {
		return Ticket{}, c.transportError(ctx, actx, id, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		_ = resp.Body.Close()
	}()

	code := resp.StatusCode
	status := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	if code >= 200 && code < 300 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxTicketBytes+1))
		if err != nil {
			if ctx.Err() == nil && actx.Err() != nil {
				err = fmt.Errorf("%s but the body was not received within %s (securechange.timeout)", status, c.timeout)
			} else {
				err = fmt.Errorf("%s but reading the body failed: %w", status, err)
			}
			return Ticket{}, &failedAttempt{err: err}
		}
		if len(body) > maxTicketBytes {
			return Ticket{}, &failedAttempt{final: true, err: failure.Permanent(fmt.Errorf(
				"securechange: ticket %s: %s but the body exceeds %d MiB", id, status, maxTicketBytes>>20))}
		}
		t, err := DecodeTicket(body)
		if err != nil {
			return Ticket{}, &failedAttempt{final: true, err: failure.Permanent(fmt.Errorf(
				"securechange: ticket %s: %s (Content-Type %q) but the body is not a ticket: %w%s",
				id, status, resp.Header.Get("Content-Type"), err, c.quote(body)))}
		}
		if strings.TrimLeft(t.ID, "0") != strings.TrimLeft(id, "0") {
			return Ticket{}, &failedAttempt{final: true, err: failure.Permanent(fmt.Errorf(
				"securechange: ticket %s: %s but SecureChange returned ticket %s", id, status, t.ID))}
		}
		return t, nil
	}

	errBody, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyRead))
	body := c.quote(errBody)
	switch {
	case code == http.StatusNotFound:
		return Ticket{}, &failedAttempt{final: true, err: failure.Permanent(fmt.Errorf(
			"securechange: ticket %s not found in SecureChange (404)%s", id, body))}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		hint := "check securechange.user and securechange.password_env / securechange.password_file"
		if code == http.StatusForbidden {
			hint += ", and that the user may read this ticket's domain and workflow"
		}
		return Ticket{}, &failedAttempt{final: true, err: fmt.Errorf(
			"securechange: ticket %s: %s: %w; %s%s", id, status, ErrAccess, hint, body)}
	case code >= 300 && code < 400:
		loc := ""
		if l, err := resp.Location(); err == nil {
			loc = " to " + strconv.Quote(l.Redacted())
		}
		return Ticket{}, &failedAttempt{final: true, err: fmt.Errorf(
			"securechange: ticket %s: %s: redirect%s not followed; check securechange.url (e.g. https, the full path .../securechangeworkflow/api/securechange)%s",
			id, status, loc, body)}
	case failure.TransientStatus(code):
		a := &failedAttempt{err: fmt.Errorf("%s%s", status, body)}
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			a.retryAfter, _ = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return Ticket{}, a
	}
	return Ticket{}, &failedAttempt{final: true, err: failure.Permanent(fmt.Errorf(
		"securechange: ticket %s: %s%s", id, status, body))}
}

// transportError classifies an error from http.Client.Do.
func (c *Client) transportError(ctx, actx context.Context, id string, err error) *failedAttempt {
	if ctx.Err() != nil {
		return &failedAttempt{err: err} // Ticket reports ctx's end
	}
	if actx.Err() != nil {
		return &failedAttempt{err: fmt.Errorf("no response within %s (securechange.timeout)", c.timeout)}
	}
	if isCertError(err) {
		return &failedAttempt{final: true, err: fmt.Errorf(
			"securechange: ticket %s: SecureChange's TLS certificate was not accepted; check securechange.tls.ca_file: %w", id, err)}
	}
	return &failedAttempt{err: err} // *url.Error: names the URL, which holds no credentials
}

func isCertError(err error) bool { return egress.IsCertError(err) }

// quote returns "; response: <snippet>" for a non-empty body, "" otherwise (spans
// leave it out: tracing.ResponseQuote).
func (c *Client) quote(body []byte) string {
	s := snippet(body, c.secrets)
	if s == "" {
		return ""
	}
	return tracing.ResponseQuote + s
}

// retryWait is the wait before retry number retry+1: base doubled retry times, ±20 %
// jitter, at most maxBackoff.
func retryWait(base time.Duration, retry int) time.Duration {
	return egress.Backoff(base, maxBackoff, retry)
}

// retryAfter parses a Retry-After header (seconds or an HTTP date), clamped to
// [0, maxRetryAfter].
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	return egress.RetryAfter(h, now, maxRetryAfter)
}

// validTicketID reports whether id is a ticket number: 1 to maxTicketID digits.
func validTicketID(id string) bool { return len(id) <= maxTicketID && isDigits(id) }

// quoteID quotes a rejected id (or another short value, such as an XML encoding
// label) for an error message, shortened.
func quoteID(id string) string {
	if len(id) > 40 {
		id = strings.ToValidUTF8(id[:40], "") + "…"
	}
	return strconv.Quote(id)
}

// snippet returns at most maxSnippet bytes of body, on one line, with secrets
// stripped (egress.Snippet).
func snippet(body []byte, secrets []string) string {
	return egress.Snippet(body, secrets, maxSnippet)
}
