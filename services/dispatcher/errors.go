// Package dispatcher turns each stored trigger into a change plan: enrich the ticket
// from SecureChange, match the routes, run the rewrite plugins, record the plan, then
// publish one message per operation.
package dispatcher

import "errors"

// permanentError marks a failure that no retry can fix (a 404 ticket, a plugin's errmsg,
// a bad template reference): the trigger is dead-lettered at once with a failed plan.
// Every other error is transient: the trigger is redelivered with backoff.
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
