package events

import "time"

// Subjects come in pairs: a wildcard for subscribers and stream definitions,
// and a format for publishers.
const (
	SubjTriggers = "scw.trigger.>"
	SubjTriggerT = "scw.trigger.%s.%s" // event token (Trigger.Token), ticket id

	SubjOps = "scw.op.>"
	SubjOpT = "scw.op.%s.%s.%s" // operation kind, target, ticket id

	SubjResults = "scw.result.>"
	SubjResultT = "scw.result.%s.%s.%s" // operation kind, status, ticket id

	SubjDLQ  = "scw.dlq.>"
	SubjDLQT = "scw.dlq.%s.%s" // service, ticket id

	SubjPlans = "scw.plan.>"
	SubjPlanT = "scw.plan.%s.%s" // event token (Trigger.Token), ticket id
)

// Stream names (DESIGN §5).
const (
	StreamTriggers = "SCW_TRIGGERS"
	StreamOps      = "SCW_OPS"
	StreamResults  = "SCW_RESULTS"
	StreamDLQ      = "SCW_DLQ"
	StreamPlans    = "SCW_PLANS"
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
		},
		{
			Name:        StreamOps,
			Subjects:    []string{SubjOps},
			Description: "operations the dispatcher planned, one message per operation",
			MaxAge:      OpsMaxAge,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
		},
		{
			Name:        StreamResults,
			Subjects:    []string{SubjResults},
			Description: "results of finished operations (succeeded, failed or skipped)",
			MaxAge:      ResultsMaxAge,
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
	}
}
