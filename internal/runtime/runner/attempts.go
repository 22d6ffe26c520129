package runner

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// The attempt history of an operation (scw_attempts, keyed by operation id): kept across
// redeliveries and replicas, capped, and dropped once the operation is settled.

// MaxAttemptsKept bounds the attempt history of one operation (the first attempt and
// the latest ones are kept).
const MaxAttemptsKept = 50

func (r *Runner) loadAttempts(ctx context.Context, id string) []events.Attempt {
	e, err := r.Attempts.Get(ctx, id)
	if err != nil {
		return nil
	}
	var as []events.Attempt
	if json.Unmarshal(e.Value(), &as) != nil {
		return nil
	}
	return as
}

func (r *Runner) saveAttempts(j *Job) error {
	if len(j.Attempts) == 0 {
		return nil
	}
	b, err := json.Marshal(capAttempts(j.Attempts))
	if err != nil {
		return err
	}
	ctx, cancel := r.recordContext(j)
	defer cancel()
	_, err = r.Attempts.Put(ctx, j.Op.ID, b)
	return err
}

// forgetAttempts drops the history of a finished operation.
func (r *Runner) forgetAttempts(j *Job) {
	if len(j.Attempts) > 1 || j.Delivered > 1 {
		ctx, cancel := r.recordContext(j)
		defer cancel()
		_ = r.Attempts.Purge(ctx, j.Op.ID)
	}
}

// CountAttempts counts the attempts that count against retry.attempts: requests that
// failed (lookups included: a server failing them is failing), but not the outages of
// the destination nor those cut off by a stop.
func CountAttempts(as []events.Attempt) int {
	n := 0
	for _, a := range as {
		if a.Error != "" && !a.Outage && !a.Unknown {
			n++
		}
	}
	return n
}

// capAttempts keeps the first attempt and the latest ones.
func capAttempts(as []events.Attempt) []events.Attempt {
	if len(as) <= MaxAttemptsKept {
		return as
	}
	return slices.Concat(as[:1], as[len(as)-MaxAttemptsKept+1:])
}

// Failed fills an attempt's error fields from err: its message, whether it is worth
// retrying, and whether it was an outage of the destination.
func Failed(a *events.Attempt, err error) {
	if err == nil {
		return
	}
	a.Error, a.Transient, a.Outage = err.Error(), !failure.IsPermanent(err), failure.IsOutage(err)
}
