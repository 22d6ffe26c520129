package runner

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// A lane's hold marker (events.LaneHeldSubject, in SCW_RESULTS next to the results) has a
// message while the lane has a park record, so the done check, one direct get of the
// operation's done results and of the marker, also says whether the lane is held: the
// common case, not done and not held, costs one request instead of two.
//
// The marker is published before the park record is written (parkHead) and purged after
// it is deleted (release): a crash between the two leaves a marker without a record,
// which only sends that lane's operations the longer way (check reads the record, finds
// none and drops the marker). A record without a marker would let an operation overtake
// a failed one, so the markers are audited: every events.HoldRefresh each runner republishes the
// marker of every park record (a park record written by an older version gets one; a
// marker is never older than that, so SCW_RESULTS' limits do not remove one from
// a lane still held), and the done check trusts the markers only while an audit that
// began less than twice that ago has completed. Before the first audit, or when
// audits fail, every operation of a lane reads its park record.

// holds is the state of the audit of the hold markers.
type holds struct {
	audited atomic.Int64 // when the last completed audit began (unix ns; 0: none)
	running atomic.Bool
}

// trustHolds reports whether the hold markers can be trusted, and starts an audit when
// the last one is events.HoldRefresh old.
func (r *Runner) trustHolds() bool {
	last := r.holds.audited.Load()
	age := time.Since(time.Unix(0, last))
	if (last == 0 || age >= events.HoldRefresh) && r.holds.running.CompareAndSwap(false, true) {
		go r.refreshHolds()
	}
	return last != 0 && age < 2*events.HoldRefresh
}

// refreshHolds runs one audit of the hold markers, in the background.
func (r *Runner) refreshHolds() {
	defer r.holds.running.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.AuditHolds(ctx); err != nil {
		r.Log.Warn("lanes' hold markers not audited; operations of a lane read its park record meanwhile", "err", err)
	}
}

// Bind gives the runner its buckets (natsconn.EnsureBuckets): done markers and failed
// groups, attempt histories, and the lanes' park records.
func (r *Runner) Bind(kv map[string]jetstream.KeyValue) {
	r.Done, r.Attempts, r.Parked = kv[events.BucketDone], kv[events.BucketAttempts], kv[events.BucketParked]
}

// Start is what a service does before it consumes: Bind, then AuditHolds. An audit
// that fails is logged, not fatal: until one completes (it is retried every
// events.HoldRefresh) the runner reads the park records instead of trusting the markers.
func (r *Runner) Start(ctx context.Context, kv map[string]jetstream.KeyValue) {
	r.Bind(kv)
	if err := r.AuditHolds(ctx); err != nil {
		r.Log.Warn("lanes' hold markers not audited at start", "err", err)
	}
}

// AuditHolds republishes the hold marker of every park record. A service calls it at
// start, so that the done check trusts the markers from its first operation; the runner
// repeats it every events.HoldRefresh. Without lanes and results it does nothing.
func (r *Runner) AuditHolds(ctx context.Context) error {
	if !r.Lanes || !r.Results {
		return nil
	}
	began := time.Now()
	n, err := r.auditHolds(ctx)
	if err != nil {
		return err
	}
	r.holds.audited.Store(began.UnixNano())
	r.Log.Debug("lanes' hold markers audited", "held", n)
	return nil
}

// auditHolds republishes the hold marker of every park record; n is how many.
func (r *Runner) auditHolds(ctx context.Context) (n int, err error) {
	keys, err := r.Parked.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", events.BucketParked, err)
	}
	defer func() { _ = keys.Stop() }()
	for lane := range keys.Keys() {
		e, err := r.Parked.Get(ctx, lane)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("read %s %s: %w", events.BucketParked, lane, err)
		}
		if err := r.hold(ctx, lane, e.Value()); err != nil {
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

// hold publishes the lane's hold marker (the park record's content), replacing the
// earlier one (Nats-Rollup: sub).
func (r *Runner) hold(ctx context.Context, lane string, record []byte) error {
	m := nats.NewMsg(events.LaneHeldSubject(lane))
	m.Data = record
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if _, err := r.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish the hold marker of lane %s: %w", lane, err)
	}
	return nil
}

// heldSeq is the sequence of the lane's hold marker (0: none).
func (r *Runner) heldSeq(ctx context.Context, lane string) (uint64, error) {
	m, err := r.Reads.Last(ctx, events.StreamResults, events.LaneHeldSubject(lane))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the hold marker of lane %s: %w", lane, err)
	}
	return m.Seq, nil
}

// dropHold purges the lane's hold marker up to and including seq (a newer one, of a
// lane held again meanwhile, stays). A failure leaves a stale marker: logged, and
// dropped by a later operation of the lane.
func (r *Runner) dropHold(ctx context.Context, lane string, seq uint64) {
	if err := r.purge(ctx, events.StreamResults, events.LaneHeldSubject(lane), seq); err != nil {
		r.Log.Debug("hold marker not dropped; a later operation of the lane drops it", "lane", lane, "err", err)
	}
}
