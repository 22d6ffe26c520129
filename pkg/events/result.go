package events

import (
	"encoding/json"
	"strconv"
	"time"
)

// Key-value buckets (DESIGN §5).
const (
	// BucketCorrelation holds what ITSM servers answered (e.g. ServiceNow's sys_id and
	// number), one JSON object per ticket and server under CorrelationKey.
	BucketCorrelation = "scw_correlation"
	// BucketDone holds the done markers of the operations that publish no result (the
	// notifier's alerts), under their id, so redelivery and replay never send them twice;
	// an operation with results is done once it has a result that is (Result.Done). Keys of
	// groups that failed are GroupKey.
	BucketDone = "scw_done"
	// BucketAttempts holds the attempts of operations still being retried (under the
	// operation id), so the final result lists every attempt across redeliveries.
	BucketAttempts = "scw_attempts"
	// BucketParked holds, per lane (Operation.Lane), the failed operation the lane's later
	// operations wait behind, or the released ones that go first (a Park).
	BucketParked = "scw_parked"
)

// CorrelationKey is the scw_correlation key of a ticket and server: <ticket>.<server>.
func CorrelationKey(ticket, server string) string { return ticket + "." + subjectToken(server) }

// GroupKey is the scw_done key that marks an operation group (groupApproval) as failed:
// the group's operations not yet done are cancelled.
func GroupKey(triggerID, group string) string {
	return "group." + triggerID + "." + hashParts("group/v1", group)
}

// HdrForce on an operation message makes itsm-sync send it even if scw_done says it
// succeeded already: an explicit, deliberate replay.
const HdrForce = "Scw-Force"

// Headers of a replay (`triggerflow replay`) and a resend (`triggerflow resend`).
const (
	// HdrReplay, on a trigger republished by a replay, is the replay's id. The dispatcher
	// carries it onto the plan and each operation, whose message ids it suffixes
	// (ReplayMsgID): a replay is not dropped by the dedup window, while the operation ids
	// stay the same, so an operation already done is skipped (unless Scw-Force: true).
	HdrReplay = "Scw-Replay"
	// HdrReplayOf is the stream sequence of the replayed trigger in SCW_TRIGGERS.
	HdrReplayOf = "Scw-Replay-Of"
	// HdrResend, on an operation sent again on its own, counts its resends (1, 2, …).
	HdrResend = "Scw-Resend"
)

// ReplayMsgID is the Nats-Msg-Id of a message (trigger, plan, operation) republished by
// replay replayID: <id>.replay.<replay id>, so one replay stores each message once and
// another replay stores it again.
func ReplayMsgID(id, replayID string) string { return id + ".replay." + replayID }

// OpContext is what an operation's templates render from, captured when it was planned,
// so a redelivery or replay renders the same payload.
type OpContext struct {
	Trigger TriggerEvent `json:"trigger"`
	// Ticket is the enriched ticket exactly as SecureChange returned it (Ticket.Raw);
	// absent when the dispatcher had no SecureChange connection.
	Ticket json.RawMessage `json:"ticket,omitempty"`
	// Callback is the ITSM callback an inbound route acted on (#callback.<path>#); the
	// Trigger is then empty but for the ticket id and event INBOUND.
	Callback *InboundEvent `json:"callback,omitempty"`
}

// ResultStatus is how an operation ended.
type ResultStatus string

// Result statuses.
const (
	ResultSucceeded ResultStatus = "succeeded"
	ResultFailed    ResultStatus = "failed"
	ResultSkipped   ResultStatus = "skipped" // cancelled with its group, or skipped by an operator
	// ResultParked: set aside behind a failed operation of the same ticket and
	// destination; it runs once that one is redriven or skipped.
	ResultParked ResultStatus = "parked"
)

// Attempt is one request an operation made.
type Attempt struct {
	N         int           `json:"n"` // 1-based
	At        time.Time     `json:"at"`
	Status    int           `json:"status,omitempty"` // HTTP status; 0: no response
	Latency   time.Duration `json:"latency_ns"`
	Error     string        `json:"error,omitempty"`
	Excerpt   string        `json:"excerpt,omitempty"` // bounded, secrets stripped
	Lookup    bool          `json:"lookup,omitempty"`  // a lookup-before-create, not the operation itself
	Transient bool          `json:"transient,omitempty"`
	// Unknown: the request was cut off (a stop, a lost connection) and whether the
	// server acted on it is not known; the next attempt looks the record up first.
	Unknown bool `json:"unknown,omitempty"`
	// Outage: the destination was failing for every operation (e.g. its circuit breaker
	// was open); not counted against the operation's retry.attempts.
	Outage bool `json:"outage,omitempty"`
}

// Result is the outcome of one operation, on scw.result.<kind>.<status>.<ticket>.<operation id> with
// message id "result-<operation id>-<stream sequence of the operation's message>" (so a
// redelivery's copy is dropped, while a redriven or parked-then-released operation gets
// a result of its own).
type Result struct {
	OperationID string       `json:"operation_id"`
	TriggerID   string       `json:"trigger_id"`
	Ticket      string       `json:"ticket"`
	Event       Trigger      `json:"event"`
	Kind        OpKind       `json:"kind"`
	Target      string       `json:"target"`
	Route       string       `json:"route"`
	Action      string       `json:"action"`
	Status      ResultStatus `json:"status"`
	Error       string       `json:"error,omitempty"`
	// Reason of a skip: "already done", "group failed", …
	Reason   string    `json:"reason,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
	// Correlation is what this operation stored in scw_correlation.
	Correlation map[string]string `json:"correlation,omitempty"`
	// ParkedBehind: this operation waits behind that failed one (status parked).
	ParkedBehind string `json:"parked_behind,omitempty"`
	// Parks: this failed operation holds back the later operations of its ticket and
	// destination until it is redriven or skipped (status failed).
	Parks bool `json:"parks,omitempty"`
	// Forced: sent although scw_done said it was done (Scw-Force).
	Forced     bool      `json:"forced,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
	Instance   string    `json:"instance,omitempty"`
}

// ResultFor starts the result of op.
func ResultFor(op Operation, status ResultStatus) Result {
	return Result{
		OperationID: op.ID, TriggerID: op.TriggerID, Ticket: op.Ticket, Event: op.Event,
		Kind: op.Kind, Target: op.Target, Route: op.Route, Action: op.Action, Status: status,
	}
}

// ID is the result's message id: one result per operation.
func (r Result) ID() string { return "result-" + r.OperationID }

// Subject is scw.result.<kind>.<status>.<ticket>.<operation id>.
func (r Result) Subject() string {
	return resultSubject(string(r.Kind), string(r.Status), r.Ticket, subjectToken(r.OperationID))
}

// resultSubject is the one builder of result subjects (SubjResultT); any token may be a
// wildcard (the operation id is made a token by the caller, subjectToken).
func resultSubject(kind, status, ticket, opToken string) string {
	return "scw.result." + kind + "." + status + "." + ticket + "." + opToken
}

// Done reports whether the result marks its operation done: it succeeded, or was skipped
// (a redelivery or a replay without Scw-Force does not perform it again).
func (r Result) Done() bool { return r.Status == ResultSucceeded || r.Status == ResultSkipped }

// DoneSubjects are the subjects of op's results that mark it done (Result.Done): a
// message on either is its done marker.
func DoneSubjects(op Operation) []string {
	return []string{
		resultSubject(string(op.Kind), string(ResultSucceeded), op.Ticket, subjectToken(op.ID)),
		resultSubject(string(op.Kind), string(ResultSkipped), op.Ticket, subjectToken(op.ID)),
	}
}

// ResultsOf is the filter of every result of one operation (any status).
func ResultsOf(op Operation) string {
	return resultSubject(string(op.Kind), "*", op.Ticket, subjectToken(op.ID))
}

// TicketResults is the filter of every result of one ticket.
func TicketResults(ticket string) string { return resultSubject("*", "*", ticket, "*") }

// Headers of the result: caused by the operation, attempts and error included.
func (r Result) Headers() map[string]string {
	h := map[string]string{
		HdrTriggerID:     r.TriggerID,
		HdrCausationID:   r.OperationID,
		HdrCorrelationID: r.TriggerID,
		HdrTicketID:      r.Ticket,
		HdrEvent:         string(r.Event),
		HdrAttempt:       strconv.Itoa(len(r.Attempts)),
	}
	if r.Error != "" {
		h[HdrError] = r.Error
	}
	return h
}

// Marshal encodes the result.
func (r Result) Marshal() ([]byte, error) { return marshal(r) }

// UnmarshalResult decodes a result.
func UnmarshalResult(b []byte) (Result, error) {
	var r Result
	err := unmarshal(b, &r)
	return r, err
}

// Park is the record of a lane (BucketParked, key Operation.Lane) that is held back:
// Head failed (dead-lettered) and the lane's later operations wait in SCW_PARKED behind
// it; once Head is redriven and succeeds, or is skipped, they are released: republished
// in their original order, and Release lists them; until it is empty, nothing else of the
// lane runs before them.
type Park struct {
	Head      string    `json:"head,omitempty"` // the failed operation's id
	HeadRoute string    `json:"head_route,omitempty"`
	HeadAct   string    `json:"head_action,omitempty"`
	Error     string    `json:"error,omitempty"`
	Since     time.Time `json:"since"`
	// Parked counts the operations set aside behind Head.
	Parked  int      `json:"parked,omitempty"`
	Release []string `json:"release,omitempty"`
}
