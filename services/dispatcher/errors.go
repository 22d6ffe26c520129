// Package dispatcher turns each stored trigger into a change plan: enrich the ticket
// from SecureChange, match the routes, run the rewrite plugins, record the plan, then
// publish one message per operation.
package dispatcher

import "github.com/triggerflow/triggerflow/internal/failure"

// Permanent marks a failure that no retry can fix (a 404 ticket, a plugin's errmsg, a
// bad template reference): the trigger is dead-lettered at once with a failed plan.
// Every other error is transient: the trigger is redelivered with backoff.
func Permanent(err error) error { return failure.Permanent(err) }

// IsPermanent reports whether err, or an error it wraps, was marked permanent.
func IsPermanent(err error) bool { return failure.IsPermanent(err) }
