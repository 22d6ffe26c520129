// Package failure classifies errors the way every triggerflow service retries them:
// permanent (no retry can fix it: dead-letter now) or transient (retry with backoff),
// optionally with the delay the other side asked for (Retry-After).
package failure

import (
	"errors"
	"net/http"
	"time"
)

// TransientStatus reports whether an HTTP response status is worth retrying: 408, 429
// and 5xx. Every HTTP client of triggerflow classifies answers with it: the ITSM
// servers and their OAuth2 token endpoints, SecureChange, and HTTP rewrite plugins.
func TransientStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// permanentError marks a failure that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries the delay a server asked for.
type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// WithRetryAfter attaches the delay the server asked for (its Retry-After) to a
// transient err (nil stays nil).
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, delay: d}
}

// RetryAfter is the delay attached by WithRetryAfter.
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}

// outageError marks a transient failure of the destination as a whole (its circuit
// breaker is open or just tripped): it says nothing about the operation, so it is not
// counted against the operation's retry.attempts; only retry.max_age bounds it.
type outageError struct{ err error }

func (e *outageError) Error() string { return e.err.Error() }
func (e *outageError) Unwrap() error { return e.err }

// Outage marks err as an outage of the destination (nil stays nil).
func Outage(err error) error {
	if err == nil {
		return nil
	}
	return &outageError{err: err}
}

// IsOutage reports whether err, or an error it wraps, was marked an outage.
func IsOutage(err error) bool {
	var o *outageError
	return errors.As(err, &o)
}

// notAttemptedError marks a failure that happened before anything was sent (an open
// breaker, a full slot queue): no attempt is recorded.
type notAttemptedError struct{ err error }

func (e *notAttemptedError) Error() string { return e.err.Error() }
func (e *notAttemptedError) Unwrap() error { return e.err }

// NotAttempted marks err as a failure before any request was made (nil stays nil).
func NotAttempted(err error) error {
	if err == nil {
		return nil
	}
	return &notAttemptedError{err: err}
}

// IsNotAttempted reports whether err was marked NotAttempted.
func IsNotAttempted(err error) bool {
	var n *notAttemptedError
	return errors.As(err, &n)
}
