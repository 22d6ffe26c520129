package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// The done check: whether an operation already succeeded or was skipped, read with the
// lane's hold marker (holds.go) in one direct get.

// check is the done check (not for a forced operation) and, in a lane, the read of the
// lane's park record (j.park). While the lanes' hold markers are trusted (holds.go) it
// is one direct get of the operation's succeeded and skipped results and of the lane's
// hold marker: nothing found means not done and not held. A held lane (or a stale
// marker) reads its park record as without markers: the park read and the done check
// in parallel.
func (r *Runner) check(ctx context.Context, j *Job) (done bool, err error) {
	var marker uint64 // the hold marker's sequence, if one answered
	if r.Lanes && r.Results && !j.Forced && r.trustHolds() {
		m, err := r.Reads.Last(ctx, events.StreamResults, append(events.DoneSubjects(j.Op), j.Op.HeldSubject())...)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			j.parkRead = true // not held: no park record
			return false, nil
		case err != nil:
			return false, fmt.Errorf("read the results of the operation: %w", err)
		case m.Subject != j.Op.HeldSubject():
			return true, nil // done; advance reads the park record
		}
		marker = m.Seq
	}
	var lane chan parkRead
	if r.Lanes { // read while the done marker is: one round trip, not two
		lane = make(chan parkRead, 1)
		go func() {
			p, err := r.park(ctx, j.Op)
			lane <- parkRead{p, err}
		}()
	}
	if !j.Forced {
		done, err = r.isDone(ctx, j)
	}
	if r.Lanes {
		pr := <-lane
		if err == nil {
			err = pr.err
		}
		j.parkRead, j.park = pr.err == nil, pr.p
		if marker != 0 && pr.err == nil && pr.p == nil {
			r.dropHold(ctx, j.Op.Lane(), marker) // stale: left by a release cut short
		}
	}
	return done, err
}

// isDone reports whether j's operation is done: with results, whether a succeeded or
// skipped result of it is on SCW_RESULTS (one direct get of both subjects: the result is
// the marker, no second write); without (alerts), whether it has an scw_done marker.
func (r *Runner) isDone(ctx context.Context, j *Job) (bool, error) {
	if r.Results {
		_, err := r.Reads.Last(ctx, events.StreamResults, events.DoneSubjects(j.Op)...)
		if err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
			return err == nil, nil
		}
		return false, fmt.Errorf("read the results of the operation: %w", err)
	}
	_, err := r.Done.Get(ctx, j.Op.ID)
	if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) {
		return err == nil, nil
	}
	return false, fmt.Errorf("read %s: %w", events.BucketDone, err)
}

// alreadyDone acks an operation that succeeded before. A replay of it (Scw-Replay
// without Scw-Force) is logged and gets a skipped result of its own (its message is new:
// a new result id); the result that did it stays. A redelivery is acked: its result is
// stored (the result is the marker).
func (r *Runner) alreadyDone(j *Job) error {
	replay := j.Msg.Metadata.Get(events.HdrReplay)
	if replay != "" {
		j.Log.Info("already done; not performed again", "replay", replay)
		if r.Results {
			res := r.result(j, events.ResultSkipped)
			res.Reason = "already done; replayed without --force"
			if err := bus.PublishResult(r.Pub, j.Msg, res); err != nil {
				return r.later(j, err)
			}
		}
	} else {
		j.Log.Debug("already done; not performed again")
	}
	if r.Lanes {
		if err := r.advance(j); err != nil {
			return r.later(j, err)
		}
	}
	r.Metrics.outcome(r.Service, j.Op.Kind, j.Op.Target, outcomeDone)
	j.Msg.Ack()
	return nil
}
