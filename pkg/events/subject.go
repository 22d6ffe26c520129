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

// Stream defaults.
const (
	DefaultReplicas      = 1
	DefaultTriggerMaxAge = 30 * 24 * time.Hour
	DefaultDuplicates    = 10 * time.Minute
	// OpsMaxAge and ResultsMaxAge keep operations and results as long as the
	// default trigger retention.
	OpsMaxAge     = 30 * 24 * time.Hour
	ResultsMaxAge = 30 * 24 * time.Hour
	// DLQMaxAge is longer, so a dead letter waits for a person even over
	// holidays.
	DLQMaxAge = 90 * 24 * time.Hour
)

// StreamSpec declares a JetStream stream. Every stream uses file storage and
// limits retention (discard old); the JetStream seam in pkg/ turns a spec into
// a stream configuration and creates or updates it idempotently.
type StreamSpec struct {
	Name        string
	Subjects    []string
	Description string
	MaxAge      time.Duration // messages older than this are removed
	Duplicates  time.Duration // Nats-Msg-Id dedup window
	Replicas    int
	// Transform, if set, rewrites matching subjects as they are stored.
	Transform *SubjectTransform
	// Direct: any server of the stream answers direct gets (SCW_RESULTS: the done check
	// reads an operation's last result by subject).
	Direct bool
}

// StreamOptions are the configurable stream knobs. Zero values take the
// defaults (DefaultReplicas, DefaultTriggerMaxAge, DefaultDuplicates); other
// values are used as given, validating them is the configuration's job.
type StreamOptions struct {
	Replicas      int
	TriggerMaxAge time.Duration
	Duplicates    time.Duration
}

// Streams returns the streams of DESIGN §5 (triggers, ops, results, dead letters)
// plus SCW_PLANS, where the dispatcher records each change plan before its
// operations go out. TriggerMaxAge applies to SCW_TRIGGERS only; the
// dedup window and replicas apply to all of them (every publisher sets
// Nats-Msg-Id).
func Streams(o StreamOptions) []StreamSpec {
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.TriggerMaxAge == 0 {
		o.TriggerMaxAge = DefaultTriggerMaxAge
	}
	if o.Duplicates == 0 {
		o.Duplicates = DefaultDuplicates
	}
	return []StreamSpec{
		{
			Name:        StreamTriggers,
			Subjects:    []string{SubjTriggers},
			Description: "SecureChange workflow triggers as received by the ingress, one message per trigger",
			MaxAge:      o.TriggerMaxAge,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
			Transform:   &TriggerTransform,
		},
		{
			Name:        StreamOps,
			Subjects:    []string{SubjOps},
			Description: "operations the dispatcher planned, one message per operation",
			MaxAge:      OpsMaxAge,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
			Transform:   &OpTransform,
		},
		{
			Name:        StreamResults,
			Subjects:    []string{SubjResults},
			Description: "results of operations (succeeded, failed, skipped, or parked behind a failed one); the last succeeded or skipped one of an operation is its done marker",
			MaxAge:      ResultsMaxAge,
			Direct:      true,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
		},
		{
			Name:        StreamPlans,
			Subjects:    []string{SubjPlans},
			Description: "change plans: for each trigger, the operations it must cause, recorded before any runs",
			MaxAge:      OpsMaxAge,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
		},
		{
			Name:        StreamDLQ,
			Subjects:    []string{SubjDLQ},
			Description: "messages a service gave up on, with the original subject and the error",
			MaxAge:      DLQMaxAge,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
		},
		{
			Name:        StreamParked,
			Subjects:    []string{SubjParked},
			Description: "operations parked behind a failed one of their ticket and destination, until it is redriven or skipped",
			MaxAge:      DLQMaxAge,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
		},
		{
			Name:        StreamAlerts,
			Subjects:    []string{SubjAlerts},
			Description: "failure alerts waiting for (and kept after) their digest email",
			MaxAge:      ResultsMaxAge,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
		},
	}
}
