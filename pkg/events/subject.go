package events

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Subjects come in pairs: a wildcard for subscribers and stream definitions,
// and a format for publishers.
//
// Triggers and operations are published without a partition and stored with one:
// SCW_TRIGGERS and SCW_OPS insert the ticket's partition (Partition) before the ticket
// id with a subject transform, so a message published by hand (a redrive with the nats
// CLI) lands in the right lane too. A subject already carrying a partition is stored as
// it is.
const (
	SubjTriggers       = "scw.trigger.>"
	SubjTriggerT       = "scw.trigger.%s.%s"    // event token (Trigger.Token), ticket id
	SubjTriggerStoredT = "scw.trigger.%s.%d.%s" // event token, partition, ticket id

	SubjOps       = "scw.op.>"
	SubjOpT       = "scw.op.%s.%s.%s"    // operation kind, target, ticket id
	SubjOpStoredT = "scw.op.%s.%s.%d.%s" // operation kind, target, partition, ticket id

	SubjResults       = "scw.result.>"
	SubjResultT       = "scw.result.%s.%s.%s.%s" // operation kind, status, ticket id, operation id
	SubjResultsFailed = "scw.result.*.failed.>"

	// Hold markers, stored in SCW_RESULTS next to the results: scw.lane.held.<target>.
	// <ticket> has a message while the lane has a park record (BucketParked), so the
	// done check, one direct get, also says whether the lane is held (Operation.HeldSubject).
	SubjLanes     = "scw.lane.>"
	SubjLaneHeldT = "scw.lane.held.%s.%s" // target, ticket id

	SubjDLQ  = "scw.dlq.>"
	SubjDLQT = "scw.dlq.%s.%s" // service, ticket id

	SubjPlans = "scw.plan.>"
	SubjPlanT = "scw.plan.%s.%s" // event token (Trigger.Token), ticket id

	// Operations set aside behind a failed one of their ticket and destination (see
	// BucketParked), until it is redriven or skipped.
	SubjParked  = "scw.parked.>"
	SubjParkedT = "scw.parked.%s.%s" // target, ticket id (Operation.ParkedSubject)

	// Failure alerts waiting for the next digest (storm control).
	SubjAlerts      = "scw.alert.>"
	SubjAlertDigest = "scw.alert.digest.>"
	SubjAlertDigT   = "scw.alert.digest.%s" // ticket id
)

// Partitions is the number of ordered lanes of the dispatcher and of each operation
// destination (an outbound server, SecureChange, SMTP). A lane is a durable consumer
// with one message in flight at a time, shared by every replica: the operations of one
// ticket and destination are always in the same lane, so they are performed one after
// the other in the order they were stored, by whichever replica, while the other lanes
// go on. It is part of the stored subjects (a transform of SCW_TRIGGERS and SCW_OPS):
// changing it re-partitions only new messages, so drain the streams first.
const Partitions = 16

// Partition is the lane of a ticket: the nats-server subject transform
// partition(Partitions, <ticket token>), FNV-1a 32 of the ticket id modulo Partitions.
func Partition(ticket string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ticket))
	return int(h.Sum32() % Partitions)
}

// TriggerLane is the filter of the dispatcher's lane p: scw.trigger.*.<p>.*.
func TriggerLane(p int) string { return fmt.Sprintf("scw.trigger.*.%d.*", p) }

// OpLane is the filter of lane p of a destination: scw.op.<kind>.<target>.<p>.*.
func OpLane(kind OpKind, target string, p int) string {
	return fmt.Sprintf("scw.op.%s.%s.%d.*", kind, subjectToken(target), p)
}

// OpDestination is the filter of every lane of a destination: scw.op.<kind>.<target>.>.
func OpDestination(kind OpKind, target string) string {
	return "scw.op." + string(kind) + "." + subjectToken(target) + ".>"
}

// DLQOf is the filter of one service's dead letters: scw.dlq.<service>.>.
func DLQOf(service string) string { return "scw.dlq." + service + ".>" }

// SubjectTransform maps the subjects a stream receives (Source) to those it stores.
type SubjectTransform struct {
	Source, Destination string
}

// Lane transforms of SCW_TRIGGERS and SCW_OPS: the partition of the last token (the
// ticket id) is inserted before it.
var (
	TriggerTransform = SubjectTransform{
		Source:      "scw.trigger.*.*",
		Destination: fmt.Sprintf("scw.trigger.{{wildcard(1)}}.{{partition(%d,2)}}.{{wildcard(2)}}", Partitions),
	}
	OpTransform = SubjectTransform{
		Source:      "scw.op.*.*.*",
		Destination: fmt.Sprintf("scw.op.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(%d,3)}}.{{wildcard(3)}}", Partitions),
	}
)

// Stream names (DESIGN §5).
const (
	StreamTriggers = "SCW_TRIGGERS"
	StreamOps      = "SCW_OPS"
	StreamResults  = "SCW_RESULTS"
	StreamDLQ      = "SCW_DLQ"
	StreamPlans    = "SCW_PLANS"
	StreamParked   = "SCW_PARKED"
	StreamAlerts   = "SCW_ALERTS"
)

// Message headers. Every message carries the trigger, causation and
// correlation ids, the ticket id and the event, so one ticket can be followed
// end to end in `nats stream view`; results also carry the attempt count and
// the error.
const (
	HdrTriggerID     = "Scw-Trigger-Id"
	HdrCausationID   = "Scw-Causation-Id"   // id of the message this one came from
	HdrCorrelationID = "Scw-Correlation-Id" // trigger id at the root of the chain
	HdrTicketID      = "Scw-Ticket-Id"
	HdrEvent         = "Scw-Event"
	HdrAttempt       = "Scw-Attempt"
	HdrError         = "Scw-Error"
	// On dead letters: where the message was going and who gave up on it.
	HdrOriginalSubject = "Scw-Original-Subject"
	HdrService         = "Scw-Service"
	// HdrSkip: "true" on a redriven operation that heads a parked lane skips it (a
	// skipped result, no call) and releases the operations parked behind it.
	HdrSkip = "Scw-Skip"
	// HdrParkedBehind, on a parked operation, is the id of the failed operation it waits
	// behind.
	HdrParkedBehind = "Scw-Parked-Behind"
	// HdrOrder, on a parked or released operation, is the stream sequence it first had
	// in SCW_OPS: released operations go out in that order.
	HdrOrder = "Scw-Order"
)

// Stream defaults: retention sized for a year of a large SecureChange (README, "Stream
// limits and sizing"); every one can be changed in the config (streams.limits).
const (
	// HoldRefresh: while a lane is held, its hold marker (SubjLanes) is republished at
	// least this often, so SCW_RESULTS' max_age must be well beyond it (the config checks
	// six times).
	HoldRefresh = 10 * time.Minute

	DefaultReplicas   = 1
	DefaultDuplicates = 10 * time.Minute
	// DefaultTriggerMaxAge: SCW_TRIGGERS keeps a year of triggers, for replay and trace.
	DefaultTriggerMaxAge = 365 * 24 * time.Hour
	// OpsMaxAge: operations carry their trigger and enriched ticket, the largest
	// messages; kept a month (for `triggerflow resend`), far longer than any retry.
	OpsMaxAge = 30 * 24 * time.Hour
	// PlansMaxAge keeps what each trigger caused for a quarter.
	PlansMaxAge = 90 * 24 * time.Hour
	// ResultsMaxAge keeps how each operation ended as long as triggers are kept: a
	// succeeded or skipped result is the operation's done marker, so a replay of any
	// stored trigger recognises what was done.
	ResultsMaxAge = DefaultTriggerMaxAge
	// DLQMaxAge is as long, so a dead letter waits for a person even over holidays; the
	// scw_redrives records and the failure alerts' retries last as long.
	DLQMaxAge = 90 * 24 * time.Hour
	// DoneTTL is how long the entries of BucketDone (alerts and failed groups) are kept:
	// as long as the default SCW_TRIGGERS retention.
	DoneTTL = DefaultTriggerMaxAge
)

// GiB is 1<<30 bytes.
const GiB = int64(1) << 30

// StreamLimits bound what a stream keeps: messages older than MaxAge, and the oldest
// beyond MaxBytes, are removed (limits retention, discard old).
type StreamLimits struct {
	MaxAge   time.Duration
	MaxBytes int64 // -1: no limit
}

// DefaultLimits are the limits of every stream by name: a year of triggers of a large
// SecureChange (2 000 tickets a day, 8 triggers each, 2 operations per trigger), with
// the bytes a message takes measured in a real JetStream (README, "Stream limits and
// sizing"; the test TestStoredSizes keeps the measurement honest).
func DefaultLimits() map[string]StreamLimits {
	return map[string]StreamLimits{
		StreamTriggers: {MaxAge: DefaultTriggerMaxAge, MaxBytes: 16 * GiB},
		StreamPlans:    {MaxAge: PlansMaxAge, MaxBytes: 8 * GiB},
		StreamOps:      {MaxAge: OpsMaxAge, MaxBytes: 16 * GiB},
		StreamResults:  {MaxAge: ResultsMaxAge, MaxBytes: 24 * GiB},
		StreamDLQ:      {MaxAge: DLQMaxAge, MaxBytes: 2 * GiB},
		StreamParked:   {MaxAge: DLQMaxAge, MaxBytes: 2 * GiB},
		StreamAlerts:   {MaxAge: DLQMaxAge, MaxBytes: 1 * GiB},
		StreamInbound:  {MaxAge: InboundMaxAge, MaxBytes: 1 * GiB},
	}
}

// StreamNames are the names of the streams Streams declares, in its order.
func StreamNames() []string {
	return []string{StreamTriggers, StreamOps, StreamResults, StreamPlans, StreamDLQ, StreamParked, StreamAlerts, StreamInbound}
}

// StreamSpec declares a JetStream stream. Every stream uses file storage and
// limits retention (discard old); the JetStream seam in pkg/ turns a spec into
// a stream configuration and creates or updates it idempotently.
type StreamSpec struct {
	Name        string
	Subjects    []string
	Description string
	MaxAge      time.Duration // messages older than this are removed
	MaxBytes    int64         // beyond this the oldest messages are removed; -1 or 0: no limit
	Duplicates  time.Duration // Nats-Msg-Id dedup window
	Replicas    int
	// Transform, if set, rewrites matching subjects as they are stored.
	Transform *SubjectTransform
	// Direct: any server of the stream answers direct gets (SCW_RESULTS: the done check
	// reads an operation's succeeded and skipped results by subject).
	Direct bool
	// Rollup: a message with Nats-Rollup: sub replaces the earlier ones of its subject
	// (SCW_RESULTS: a lane's hold marker, refreshed, is one message).
	Rollup bool
}

// StreamOptions are the configurable stream knobs. Zero values take the
// defaults (DefaultReplicas, DefaultLimits, DefaultDuplicates); other values are
// used as given, validating them is the configuration's job.
type StreamOptions struct {
	Replicas   int
	Duplicates time.Duration
	// Limits by stream name; a zero field keeps the stream's default.
	Limits map[string]StreamLimits
	// TriggerMaxAge is SCW_TRIGGERS' max age when Limits does not set it (the older,
	// deprecated knob).
	TriggerMaxAge time.Duration
}

// Streams returns the streams of DESIGN §5 (triggers, ops, results, dead letters)
// plus SCW_PLANS, where the dispatcher records each change plan before its
// operations go out, SCW_PARKED and SCW_ALERTS. Each has its limits (Limits over
// DefaultLimits); the dedup window and replicas apply to all of them (every
// publisher sets Nats-Msg-Id).
func Streams(o StreamOptions) []StreamSpec {
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Duplicates == 0 {
		o.Duplicates = DefaultDuplicates
	}
	limits := DefaultLimits()
	if o.TriggerMaxAge != 0 {
		l := limits[StreamTriggers]
		l.MaxAge = o.TriggerMaxAge
		limits[StreamTriggers] = l
	}
	for name, l := range o.Limits {
		d, ok := limits[name]
		if !ok {
			continue // not a stream; the configuration reports it
		}
		if l.MaxAge != 0 {
			d.MaxAge = l.MaxAge
		}
		if l.MaxBytes != 0 {
			d.MaxBytes = l.MaxBytes
		}
		limits[name] = d
	}
	spec := func(name, subject, description string, tr *SubjectTransform) StreamSpec {
		return StreamSpec{
			Name: name, Subjects: []string{subject}, Description: description,
			MaxAge: limits[name].MaxAge, MaxBytes: limits[name].MaxBytes,
			Duplicates: o.Duplicates, Replicas: o.Replicas, Transform: tr,
		}
	}
	// A succeeded or skipped result is its operation's done marker, read by subject with a
	// direct get (DoneSubjects).
	results := spec(StreamResults, SubjResults, "results of operations (succeeded, failed, skipped, or parked behind a failed one); a succeeded or skipped one is its operation's done marker; scw.lane.held.<target>.<ticket>: the lane is held behind a failed operation", nil)
	results.Subjects = append(results.Subjects, SubjLanes)
	results.Direct, results.Rollup = true, true
	return []StreamSpec{
		spec(StreamTriggers, SubjTriggers, "SecureChange workflow triggers as received by the ingress, one message per trigger", &TriggerTransform),
		spec(StreamOps, SubjOps, "operations the dispatcher planned, one message per operation", &OpTransform),
		results,
		spec(StreamPlans, SubjPlans, "change plans: for each trigger, the operations it must cause, stored with them", nil),
		spec(StreamDLQ, SubjDLQ, "messages a service gave up on, with the original subject and the error", nil),
		spec(StreamParked, SubjParked, "operations parked behind a failed one of their ticket and destination, until it is redriven or skipped", nil),
		spec(StreamAlerts, SubjAlerts, "failure alerts waiting for (and kept after) their digest email", nil),
		spec(StreamInbound, SubjInbound, "callbacks from ITSM servers (ITSM-led change) as received by the ingress, one message per callback", &InboundTransform),
	}
}
