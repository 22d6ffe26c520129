// Package runner is the one protocol for performing an operation, shared by every
// service that performs them (itsm-sync's itsm and securechange lanes, the notifier's
// email lanes and alerts). A service supplies Perform only, a plain function that never
// touches the message; the runner owns everything around it:
//
//  1. the done check: an operation that succeeded (or was skipped) is not performed
//     again on a redelivery or replay (unless Scw-Force: true). Its done marker is a
//     succeeded or skipped result of it on SCW_RESULTS, read with one direct get
//     (check) that also reads the lane's hold marker; the notifier's alerts, which
//     publish no result, keep theirs in scw_done;
//  2. the lane: an operation behind a failed one of its ticket and destination is parked
//     (lane.go), and released in order once that one is redriven or skipped; while a
//     lane is held its hold marker says so (holds.go);
//  3. the group (groupApproval): a failed group cancels its other operations;
//  4. the attempt history (scw_attempts, capped), across redeliveries and replicas;
//  5. Perform, then settling, each outcome logged and counted once with the same fields:
//     - success: what the response taught is stored (Done.Commit), the result is
//     published — it is the done marker: before the ack, so a redelivery never performs
//     it again — and the message acked;
//     - transient: NAK with backoff and jitter, or the server's Retry-After, until
//     retry.attempts or retry.max_age; an outage of the destination is not counted;
//     - permanent or exhausted: a failed result, a dead letter (scw.dlq.<service>.<ticket>),
//     the lane parked, the message acked (terminated);
//     - cut off by a stop (the drain's deadline): an unknown outcome, handed back at once;
//     the next attempt runs the action's lookup.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Perform does an operation. It returns what to record on success, or an error
// classified with the failure package: failure.Permanent (no retry can fix it),
// failure.WithRetryAfter (the server asked for a delay), failure.Outage (the destination
// is failing for everyone: not counted against retry.attempts), failure.NotAttempted
// (nothing was sent); anything else is transient. Each request it makes is recorded
// with Job.Record.
type Perform func(ctx context.Context, j *Job) (Done, error)

// Done is what a successful Perform leaves to record.
type Done struct {
	// Correlation is what the operation stored in scw_correlation (for the result).
	Correlation map[string]string
	// Commit stores what the response taught (correlation values, a follow-up operation)
	// before the operation is marked done. It is called again after an error, until
	// RecordFor has passed, so it must be idempotent; then the operation is left unmarked:
	// it is redelivered (and a create is looked up first).
	Commit func(ctx context.Context) error
	// Marker, if set, is the done marker's value instead of the result (alerts).
	Marker []byte
	// Note is logged with the success (e.g. "the lookup found the record").
	Note string
}

// Job is one delivery of an operation, as Perform sees it.
type Job struct {
	Op        events.Operation
	Delivered int
	// Forced: Scw-Force: true, performed although scw_done says it was done.
	Forced bool
	// Attempts so far, across deliveries (Record appends).
	Attempts []events.Attempt
	// Msg is the message the operation came in, for Perform's that read headers (alerts).
	Msg *message.Message
	Log *slog.Logger

	// parkRead: the lane's park record was read before Perform (park: nil when the lane is
	// not held back). Only this lane's handler changes it, so after a success it need
	// not be read again when it was nil.
	parkRead bool
	park     *parkRecord
	prior    int // attempts from earlier deliveries
}

// Unknown reports whether an earlier attempt may have reached the server without its
// outcome being recorded (a redelivery, or an earlier attempt): a create looks up first.
func (j *Job) Unknown() bool { return j.Delivered > 1 || len(j.Attempts) > 0 }

// Record appends the attempt of one request (its N is set here).
func (j *Job) Record(a events.Attempt) {
	a.N = len(j.Attempts) + 1
	j.Attempts = append(j.Attempts, a)
}

// Runner performs the operations of one service's consumers.
type Runner struct {
	Service string // names dead letters (scw.dlq.<service>.<ticket>), logs and metrics
	Log     *slog.Logger
	Pub     message.Publisher
	JS      jetstream.JetStream
	// Reads reads SCW_RESULTS (the done check, the lanes' hold markers):
	// natsconn.ReaderFor the deployment's replicas.
	Reads natsconn.Reader
	// Done holds done markers and failed groups; Attempts the histories; Parked the
	// lanes' park records (lanes only).
	Done, Attempts, Parked jetstream.KeyValue
	Perform                Perform
	// Retry is the policy of an operation (its server's, SecureChange's, SMTP's).
	Retry func(events.Operation) config.Retry
	// Decode turns a message into its operation. Default: events.UnmarshalOperation.
	Decode func(*message.Message) (events.Operation, error)
	// Results: publish a result per finished operation (not for alerts).
	Results bool
	// Lanes: the consumers are ordered lanes; a failed operation parks the later
	// operations of its ticket and destination.
	Lanes    bool
	Metrics  *Metrics
	Instance string
	Now      func() time.Time
	// Tracing records one span per delivery (trace.go); nil: none.
	Tracing trace.TracerProvider
	// RecordFor is how long the runner keeps trying to record an outcome (the result,
	// what the response taught, a park) before it gives the message back: long enough
	// for JetStream to elect new leaders after a node is lost, so that a call that went
	// out is not made again because its result could not be stored for a few seconds.
	// Default DefaultRecordFor.
	RecordFor time.Duration

	holds holds // the audit of the lanes' hold markers (holds.go)
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// DefaultRecordFor is the default Runner.RecordFor. A 3-node cluster that lost the node
// leading a stream elected a new leader in about 8 s on a busy 2-core machine
// (cmd/triggerflow TestOrderThroughNodeLoss); until then every write to the stream fails.
const DefaultRecordFor = 30 * time.Second

// recordContext is the context of the writes that record j's outcome. They use their
// own context: a call that went out is recorded even when the stop's deadline has cut
// the message's.
func (r *Runner) recordContext(j *Job) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(j.Msg.Context()), cmp.Or(r.RecordFor, DefaultRecordFor))
}

// infraRetry is the NAK delay after a failure of our own infrastructure (KV, publish).
const infraRetry = time.Second

// handle is the watermill handler of the runner's consumers (Handle, in its span). It
// always settles the message itself; it returns an error only when not even the dead
// letter could be stored (the message is then redelivered rather than lost).
func (r *Runner) handle(msg *message.Message) error {
	decode := r.Decode
	if decode == nil {
		decode = func(m *message.Message) (events.Operation, error) {
			op, err := events.UnmarshalOperation(m.Payload)
			if err == nil && op.ID == "" {
				err = errors.New("no operation id")
			}
			return op, err
		}
	}
	op, err := decode(msg)
	if err != nil {
		r.Metrics.outcome(r.Service, "", "", outcomeInvalid)
		r.Log.Error("not an operation; dead-lettered", "subject", msg.Metadata.Get(bus.MetaSubject), "err", err)
		return bus.DeadLetter(r.Pub, msg, r.Service, "", "", failure.Permanent(fmt.Errorf("not an operation: %w", err)), 0)
	}
	j := &Job{
		Op: op, Msg: msg, Delivered: bus.Delivered(msg),
		Forced: msg.Metadata.Get(events.HdrForce) == "true",
	}
	j.Log = slog.New(opHandler{r.Log.Handler(), []slog.Attr{
		slog.String("op", op.ID), slog.String("ticket", op.Ticket), slog.String("kind", string(op.Kind)),
		slog.String("target", op.Target), slog.String("route", op.Route), slog.String("action", op.Action),
		slog.Int("delivery", j.Delivered)}})
	j.annotate()
	ctx := msg.Context()

	if done, err := r.check(ctx, j); err != nil {
		return r.later(j, err)
	} else if done {
		return r.alreadyDone(j)
	}
	if op.Group != "" { // a failed group cancels its operations, parked or not
		if _, err := r.Done.Get(ctx, events.GroupKey(op.TriggerID, op.Group)); err == nil {
			return r.skip(j, "group "+op.Group+" failed: cancelled")
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return r.later(j, fmt.Errorf("read %s: %w", events.BucketDone, err))
		}
	}
	if j.park != nil && !j.park.lets(op.ID) {
		return r.setAside(j, j.park)
	}
	if msg.Metadata.Get(events.HdrSkip) == "true" {
		return r.skip(j, "skipped by an operator (Scw-Skip: true)")
	}
	if j.Delivered > 1 {
		j.Attempts = r.loadAttempts(ctx, op.ID)
	}
	j.prior = len(j.Attempts)

	d, err := r.Perform(ctx, j)
	var refused *RefusedError
	switch {
	case err == nil:
		return r.succeed(j, d)
	case errors.As(err, &refused):
		return r.skip(j, "refused: "+refused.Err.Error())
	case ctx.Err() != nil:
		return r.cutOff(j, err)
	case failure.IsPermanent(err):
		return r.fail(j, err)
	}
	return r.transient(j, err)
}

// succeed records the success: what the response taught, then the done marker (before
// the ack, so a redelivery never performs it again): the result, or for an operation
// without results its scw_done entry; then acks.
func (r *Runner) succeed(j *Job, d Done) error {
	ctx, cancel := r.recordContext(j)
	defer cancel()
	res := r.result(j, events.ResultSucceeded)
	res.Correlation = d.Correlation
	if d.Commit != nil {
		if err := natsconn.Retry(ctx, 0, nil, d.Commit); err != nil {
			return r.later(j, fmt.Errorf("the call succeeded but what it returned was not stored: %w", err))
		}
	}
	if err := r.markDone(ctx, j, res, d.Marker); err != nil {
		// Unrecorded: the redelivery looks the record up first (or relies on the
		// server's idempotency key).
		return r.later(j, fmt.Errorf("performed, but not recorded: %w", err))
	}
	if r.Lanes {
		if err := r.advance(j); err != nil {
			return r.later(j, err)
		}
	}
	r.forgetAttempts(j)
	r.Metrics.succeeded(r.Service, j.Op.Kind, j.Op.Target, bus.StoredAt(j.Msg))
	args := []any{"attempts", len(j.Attempts)}
	if d.Note != "" {
		args = append(args, "note", d.Note)
	}
	j.Log.Debug("operation succeeded", args...) // one per operation: debug (failures are warn/error)
	j.Msg.Ack()
	return nil
}

// RefusedError is what Perform returns for an operation it refuses to perform on
// purpose (a guard: the ticket is no longer at the step a callback approves): the
// operation ends skipped, "refused: <Err>" recorded as its result's reason, done. It
// neither fails nor holds its lane.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return "refused: " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// skip publishes a skipped result, marks the operation done and acks.
func (r *Runner) skip(j *Job, reason string) error {
	ctx, cancel := r.recordContext(j)
	defer cancel()
	res := r.result(j, events.ResultSkipped)
	res.Reason = reason
	if err := r.markDone(ctx, j, res, nil); err != nil {
		return r.later(j, fmt.Errorf("record the skip: %w", err))
	}
	if r.Lanes {
		if err := r.advance(j); err != nil {
			return r.later(j, err)
		}
	}
	r.Metrics.outcome(r.Service, j.Op.Kind, j.Op.Target, outcomeSkipped)
	j.Log.Debug("operation skipped", "reason", reason)
	j.Msg.Ack()
	return nil
}

// markDone stores the done marker of j's operation: its result res (published on
// SCW_RESULTS, the marker isDone reads), or without results marker (default: res)
// in scw_done. The call went out: it keeps trying until RecordFor has passed before
// giving it back (a second copy of the result has its message id: JetStream drops it).
func (r *Runner) markDone(ctx context.Context, j *Job, res events.Result, marker []byte) error {
	put := func() error { return bus.PublishResult(r.Pub, j.Msg, res) }
	if !r.Results {
		if marker == nil {
			var err error
			if marker, err = res.Marshal(); err != nil {
				return err
			}
		}
		put = func() error {
			if _, err := r.Done.Put(ctx, j.Op.ID, marker); err != nil {
				return fmt.Errorf("write %s: %w", events.BucketDone, err)
			}
			return nil
		}
	}
	return natsconn.Retry(ctx, 0, nil, func(context.Context) error { return put() })
}

// transient decides between another attempt and giving up.
func (r *Runner) transient(j *Job, err error) error {
	policy := r.Retry(j.Op)
	n := CountAttempts(j.Attempts)
	age := r.now().Sub(r.storedAt(j))
	outage := failure.IsOutage(err)
	if !outage && n >= policy.Attempts {
		return r.fail(j, fmt.Errorf("gave up after %d attempts (retry.attempts): %w", n, err))
	}
	wait := egress.Backoff(policy.Backoff, policy.MaxBackoff, max(n-1, 0))
	if ra, ok := failure.RetryAfter(err); ok {
		wait = min(ra, policy.MaxRetryAfter)
	}
	if outage {
		wait = max(wait, 100*time.Millisecond)
	}
	if age+wait > policy.MaxAge {
		return r.fail(j, fmt.Errorf("gave up after %d attempts: the next one (in %s) would pass retry.max_age %s: %w", n, wait.Round(time.Millisecond), policy.MaxAge, err))
	}
	if !failure.IsNotAttempted(err) {
		if err := r.saveAttempts(j); err != nil {
			j.Log.Warn("attempt history not saved; the result will list only later attempts", "err", err)
		}
	}
	reason := outcomeRetry
	if outage {
		reason = outcomeOutage
	}
	r.Metrics.outcome(r.Service, j.Op.Kind, j.Op.Target, reason)
	if outage {
		j.Log.Warn("destination down; will retry (not counted as an attempt)", "attempts", n, "wait", wait.Round(time.Millisecond), "err", err)
	} else {
		j.Log.Warn("transient failure; will retry", "attempt", n, "of", policy.Attempts, "wait", wait.Round(time.Millisecond), "err", err)
	}
	bus.NackAfter(j.Msg, wait)
	return nil
}

// cutOff hands back an operation whose Perform the stop's deadline cut off: whether
// its request reached the server is unknown (the next attempt looks it up first).
func (r *Runner) cutOff(j *Job, err error) error {
	// The request this delivery made last is the one cut off (not one of an earlier
	// delivery, whose outcome is known).
	if n := len(j.Attempts); n > j.prior && !j.Attempts[n-1].Lookup {
		j.Attempts[n-1].Unknown = true
	}
	if err := r.saveAttempts(j); err != nil {
		j.Log.Warn("attempt history not saved", "err", err)
	}
	r.Metrics.outcome(r.Service, j.Op.Kind, j.Op.Target, outcomeHandedBack)
	j.Log.Warn("stopping: operation cut off and handed back; its outcome is unknown (the next attempt looks it up first)", "err", err)
	bus.NackAfter(j.Msg, 0)
	return nil
}

// fail publishes a failed result, marks the operation's group failed, parks its lane,
// dead-letters the operation and acks. Only a failed dead letter leaves the message to
// be redelivered.
func (r *Runner) fail(j *Job, cause error) error {
	ctx, cancel := r.recordContext(j)
	defer cancel()
	reason := cause.Error()
	res := r.result(j, events.ResultFailed)
	res.Error = reason
	if r.Lanes {
		if err := r.parkHead(ctx, j, reason); err != nil {
			return r.later(j, err)
		}
		res.Parks = true
	}
	if j.Op.Group != "" {
		if _, err := r.Done.Put(ctx, events.GroupKey(j.Op.TriggerID, j.Op.Group), []byte(reason)); err != nil {
			j.Log.Warn("group failure not recorded", "group", j.Op.Group, "err", err)
		}
	}
	if r.Results {
		if err := bus.PublishResult(r.Pub, j.Msg, res); err != nil {
			j.Log.Warn("failed result not published", "err", err)
		}
	}
	r.Metrics.outcome(r.Service, j.Op.Kind, j.Op.Target, outcomeFailed)
	args := []any{"attempts", CountAttempts(j.Attempts), "err", reason}
	if r.Lanes {
		args = append(args, "parks", "the later operations of ticket "+j.Op.Ticket+" for "+j.Op.Target+" wait until it is redriven or skipped")
	}
	j.Log.Error("operation failed; dead-lettered", args...)
	if err := bus.DeadLetter(r.Pub, j.Msg, r.Service, j.Op.ID, j.Op.Ticket, cause, CountAttempts(j.Attempts)); err != nil {
		return err
	}
	r.forgetAttempts(j)
	return nil
}

// later NAKs after a failure of our own infrastructure (KV, publish): not an attempt.
func (r *Runner) later(j *Job, err error) error {
	r.Metrics.outcome(r.Service, j.Op.Kind, j.Op.Target, outcomeInfra)
	j.Log.Warn("will retry", "err", err, "wait", infraRetry)
	bus.NackAfter(j.Msg, infraRetry)
	return nil
}

// result starts the result of j.
func (r *Runner) result(j *Job, status events.ResultStatus) events.Result {
	res := events.ResultFor(j.Op, status)
	res.Attempts, res.Forced = capAttempts(j.Attempts), j.Forced
	res.FinishedAt, res.Instance = r.now().UTC(), r.Instance
	return res
}

// storedAt is when the operation's message was stored (the retry.max_age clock).
func (r *Runner) storedAt(j *Job) time.Time {
	if t := bus.StoredAt(j.Msg); !t.IsZero() {
		return t
	}
	return r.now()
}
