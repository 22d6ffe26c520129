package outbound

import (
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

// Class of a failed call: the only input to retry and dead-letter decisions.
type Class int

const (
	// Transient failures (network errors, timeouts, 408, 429, 5xx, an open breaker) may
	// succeed when retried.
	Transient Class = iota + 1
	// Permanent failures (other 3xx/4xx, certificate errors, a bad request) never will.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Error is every failure Do returns. Do returns it wrapped with failure.Permanent when
// Class is Permanent and with failure.WithRetryAfter when HasRetryAfter, so callers that
// only know the failure package classify it correctly; errors.As finds the *Error.
type Error struct {
	Server string
	Class  Class
	// Status is the HTTP status, 0 when there was no response.
	Status int
	// RetryAfter is the server's Retry-After (seconds or an HTTP date) clamped to the
	// server's retry.max_retry_after, or, with BreakerOpen, the time until the probe.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// BreakerOpen: no request was made, the server's circuit breaker is open.
	BreakerOpen bool
	// NotSent: the request never went out (the caller's context ended while it waited for
	// a concurrency slot or the rate limit); wrapped with failure.NotAttempted.
	NotSent bool
	// Outage: the server is failing for every operation (its breaker is open, or this
	// failure tripped it or was its failed probe); wrapped with failure.Outage, so the
	// failure is not counted against the operation's retry.attempts.
	Outage bool
	// Excerpt is a bounded excerpt of the response body, secrets stripped.
	Excerpt string
	Latency time.Duration
	// Err is the message: server, method, path, status and excerpt; it wraps the cause
	// (a context error, a network error) where there is one.
	Err error

	// callerDone: the caller's context ended; the failure says nothing about the server
	// (the breaker ignores it).
	callerDone bool
}

func (e *Error) Error() string { return e.Err.Error() }

// SpanMessage is the message without the response excerpt (tracing.Quoter): spans
// never hold response bodies.
func (e *Error) SpanMessage() string {
	if e.Excerpt == "" {
		return e.Error()
	}
	return strings.TrimSuffix(e.Error(), ": "+e.Excerpt)
}
func (e *Error) Unwrap() error { return e.Err }

// wrap returns e marked for the failure package.
func (e *Error) wrap() error {
	var err error = e
	if e.Class == Permanent {
		err = failure.Permanent(err)
	}
	if e.HasRetryAfter {
		err = failure.WithRetryAfter(err, e.RetryAfter)
	}
	if e.Outage || e.BreakerOpen {
		err = failure.Outage(err)
	}
	if e.BreakerOpen || e.NotSent {
		err = failure.NotAttempted(err)
	}
	return err
}

var _ tracing.Quoter = (*Error)(nil)
