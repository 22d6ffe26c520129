package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Headers trace shows besides pkg/events' own: the W3C trace context (traceparent:
// 00-<trace id>-<span id>-<flags>) and the replay and resend marks of `triggerflow
// replay` and `triggerflow resend`.
const (
	hdrTraceparent = tracing.HdrTraceparent
	hdrReplay      = events.HdrReplay
	hdrResend      = events.HdrResend
)

// traceEntry is one line of `triggerflow trace`; its JSON form is the --json output.
type traceEntry struct {
	Time       time.Time `json:"time"`
	Source     string    `json:"source"`        // stream or bucket
	Seq        uint64    `json:"seq,omitempty"` // stream sequence
	Kind       string    `json:"kind"`          // trigger, plan, op, attempt, result, dlq, parked, redrive, alert, lane, correlation, done
	Subject    string    `json:"subject,omitempty"`
	Event      string    `json:"event,omitempty"`
	Op         *traceOp  `json:"op,omitempty"`
	Status     string    `json:"status,omitempty"`
	ID         string    `json:"id,omitempty"` // trigger, plan or operation id; a redrive's DLQ sequence
	TriggerID  string    `json:"trigger_id,omitempty"`
	TraceID    string    `json:"trace_id,omitempty"`
	MsgID      string    `json:"msg_id,omitempty"` // Nats-Msg-Id
	Error      string    `json:"error,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	LatencyMS  float64   `json:"latency_ms,omitempty"`
	HTTPStatus int       `json:"http_status,omitempty"`
}

// traceOp names an operation.
type traceOp struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Route  string `json:"route"`
	Action string `json:"action"`
}

func (o *traceOp) String() string {
	return o.Kind + " " + o.Target + " " + o.Route + "/" + o.Action
}

func opOf(kind events.OpKind, target, route, action string) *traceOp {
	return &traceOp{Kind: string(kind), Target: target, Route: route, Action: action}
}

// kindRank orders entries stored at the same instant along the pipeline.
var kindRank = map[string]int{
	"trigger": 0, "callback": 0, "plan": 1, "op": 2, "parked": 3, "attempt": 4, "correlation": 5, "done": 6,
	"result": 7, "dlq": 8, "lane": 9, "alert": 10, "redrive": 11,
}

// traceResult is what trace found.
type traceResult struct {
	Entries []traceEntry
	Read    []string // streams and buckets read
	Missing []string // streams and buckets that do not exist
}

// traceCollector turns stored messages and key-value entries into trace entries.
type traceCollector struct {
	ticket   string
	since    time.Time
	res      traceResult
	seen     map[string]bool // attempts already listed: <op id>/<n>/<time>
	ops      []string        // operation ids, in the order first seen
	opSeen   map[string]bool
	final    map[string]bool // operations with a result other than parked
	opNames  map[string]*traceOp
	lanes    []string // scw_parked keys
	laneSeen map[string]bool
	dlqSeqs  []uint64
	alerts   []pendingAlert            // failures the notifier alerts (done marker alert.<id> in scw_done)
	corr     []jetstream.KeyValueEntry // the ticket's scw_correlation entries
}

// pendingAlert is a failure whose alert trace looks up.
type pendingAlert struct {
	key, id, event, trigger string
	op                      *traceOp
}

func newTraceCollector(ticket string, since time.Time) *traceCollector {
	return &traceCollector{ticket: ticket, since: since, seen: map[string]bool{}, opSeen: map[string]bool{},
		final: map[string]bool{}, opNames: map[string]*traceOp{}, laneSeen: map[string]bool{}}
}

func (c *traceCollector) emit(e traceEntry) { c.res.Entries = append(c.res.Entries, e) }

// op remembers an operation (for the key-value look-ups).
func (c *traceCollector) op(id string, name *traceOp) {
	if id == "" {
		return
	}
	if !c.opSeen[id] {
		c.opSeen[id] = true
		c.ops = append(c.ops, id)
	}
	if name != nil && c.opNames[id] == nil {
		c.opNames[id] = name
	}
	if name != nil {
		if k := events.LaneKey(name.Target, c.ticket); !c.laneSeen[k] {
			c.laneSeen[k] = true
			c.lanes = append(c.lanes, k)
		}
	}
}

// traceID is the trace id of a traceparent header, or "".
func traceID(tp string) string {
	parts := strings.Split(strings.TrimSpace(tp), "-")
	if len(parts) < 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}

// add turns one stream message into entries.
func (c *traceCollector) add(stream string, m jetstream.Msg) {
	h := m.Headers()
	e := traceEntry{Source: stream, Subject: m.Subject(), Event: h.Get(events.HdrEvent),
		TriggerID: h.Get(events.HdrTriggerID), TraceID: traceID(h.Get(hdrTraceparent)), MsgID: h.Get(nats.MsgIdHdr)}
	if md, err := m.Metadata(); err == nil {
		e.Time, e.Seq = md.Timestamp, md.Sequence.Stream
	}
	var notes []string
	if strings.HasPrefix(e.MsgID, "redrive-") {
		notes = append(notes, "redriven ("+e.MsgID+")")
	}
	if h.Get(events.HdrSkip) == "true" {
		notes = append(notes, "Scw-Skip")
	}
	if v := h.Get(hdrReplay); v != "" {
		notes = append(notes, "replay "+v)
	}
	if v := h.Get(hdrResend); v != "" {
		notes = append(notes, "resend "+v)
	}
	switch stream {
	case events.StreamTriggers:
		e.Kind, e.Status = "trigger", "received"
		if t, err := events.UnmarshalTriggerEvent(m.Data()); err == nil {
			e.ID, e.Event, e.TriggerID = t.ID, string(t.Event), t.ID
		}
	case events.StreamInbound:
		e.Kind, e.Status, e.Event = "callback", "received", string(events.InboundEventName)
		if cb, err := events.UnmarshalInboundEvent(m.Data()); err == nil {
			e.ID, e.TriggerID = cb.ID, cb.ID
			note := "from " + cb.Server
			if cb.Record != nil {
				note += fmt.Sprintf(", record %s=%s", cb.Record.Key, cb.Record.Value)
			}
			notes = append(notes, note)
		}
	case events.StreamPlans:
		notes = append(notes, c.addPlan(&e, m.Data())...)
	case events.StreamOps, events.StreamParked:
		notes = append(notes, c.addOp(&e, stream, m)...)
	case events.StreamResults:
		c.addResult(e, m.Data())
		return
	case events.StreamDLQ:
		notes = append(notes, c.addDLQ(&e, m)...)
	case events.StreamAlerts:
		e.Kind, e.Status = "alert", "queued for digest"
		var al struct {
			Key   string `json:"key"`
			What  string `json:"what"`
			Error string `json:"error"`
		}
		if json.Unmarshal(m.Data(), &al) == nil {
			e.ID, e.Error = strings.TrimPrefix(strings.TrimPrefix(al.Key, "alert.trigger."), "alert."), al.Error
			notes = append(notes, al.What)
		}
	}
	e.Detail = strings.Join(notes, "; ")
	c.emit(e)
}

// addPlan fills e from a plan; its notes.
func (c *traceCollector) addPlan(e *traceEntry, data []byte) []string {
	e.Kind = "plan"
	p, err := events.UnmarshalPlan(data)
	if err != nil {
		e.Error = "not a plan: " + err.Error()
		return nil
	}
	e.ID, e.Status, e.Error, e.Event = p.TriggerID, string(p.Status), p.Error, string(p.Event)
	n := fmt.Sprintf("%d operations", len(p.Operations))
	if len(p.Operations) == 1 {
		n = "1 operation"
	}
	if len(p.Routes) > 0 {
		n += ": " + strings.Join(p.Routes, ", ")
	}
	return []string{n}
}

// addOp fills e from a queued or parked operation; its notes.
func (c *traceCollector) addOp(e *traceEntry, stream string, m jetstream.Msg) []string {
	h := m.Headers()
	var notes []string
	e.Kind, e.Status = "op", "queued"
	if stream == events.StreamParked {
		e.Kind, e.Status = "parked", "parked"
		if b := h.Get(events.HdrParkedBehind); b != "" {
			notes = append(notes, "behind "+short(b))
		}
	} else if h.Get(events.HdrOrder) != "" {
		e.Status = "released"
	}
	if h.Get(events.HdrForce) == "true" {
		notes = append(notes, "Scw-Force")
	}
	o, err := events.UnmarshalOperation(m.Data())
	if err != nil {
		e.Error = "not an operation: " + err.Error()
		return notes
	}
	e.ID, e.Op = o.ID, opOf(o.Kind, o.Target, o.Route, o.Action)
	c.op(o.ID, e.Op)
	return notes
}

// addDLQ fills e from a dead letter; its notes.
func (c *traceCollector) addDLQ(e *traceEntry, m jetstream.Msg) []string {
	h := m.Headers()
	var notes []string
	e.Kind, e.Status, e.Error = "dlq", "dead-lettered", h.Get(events.HdrError)
	svc := h.Get(events.HdrService)
	notes = append(notes, fmt.Sprintf("by %s, %s attempt(s), from %s", svc, orDash(h.Get(events.HdrAttempt)), h.Get(events.HdrOriginalSubject)))
	if svc == "dispatcher" {
		if t, err := events.UnmarshalTriggerEvent(m.Data()); err == nil {
			e.ID, e.Event = t.ID, string(t.Event)
			c.alerts = append(c.alerts, pendingAlert{key: "alert.trigger." + t.ID, id: t.ID, event: e.Event, trigger: t.ID})
		}
	} else if o, err := events.UnmarshalOperation(m.Data()); err == nil && o.ID != "" {
		e.ID, e.Op = o.ID, opOf(o.Kind, o.Target, o.Route, o.Action)
		c.op(o.ID, e.Op)
	}
	c.dlqSeqs = append(c.dlqSeqs, e.Seq)
	return notes
}

// addResult adds a result and the attempts it lists.
func (c *traceCollector) addResult(e traceEntry, data []byte) {
	e.Kind = "result"
	r, err := events.UnmarshalResult(data)
	if err != nil {
		e.Error = "not a result: " + err.Error()
		c.emit(e)
		return
	}
	e.ID, e.Op, e.Status, e.Error = r.OperationID, opOf(r.Kind, r.Target, r.Route, r.Action), string(r.Status), r.Error
	c.op(r.OperationID, e.Op)
	if r.Status != events.ResultParked {
		c.final[r.OperationID] = true
	}
	if r.Status == events.ResultFailed {
		c.alerts = append(c.alerts, pendingAlert{key: "alert." + r.OperationID, id: r.OperationID, op: e.Op, event: e.Event, trigger: r.TriggerID})
	}
	var notes []string
	if r.Reason != "" {
		notes = append(notes, r.Reason)
	}
	if r.ParkedBehind != "" {
		notes = append(notes, "behind "+short(r.ParkedBehind))
	}
	if r.Parks {
		notes = append(notes, "parks the later operations of its lane")
	}
	if r.Forced {
		notes = append(notes, "forced")
	}
	if len(r.Attempts) > 0 {
		notes = append(notes, attemptsNote(r.Attempts))
	}
	e.Detail = strings.Join(notes, "; ")
	c.emit(e)
	c.attempts(e, r.OperationID, r.Attempts)
}

// attempts adds each attempt once (a result lists those of earlier deliveries too).
func (c *traceCollector) attempts(base traceEntry, opID string, as []events.Attempt) {
	for _, a := range as {
		key := opID + "/" + strconv.Itoa(a.N) + "/" + a.At.UTC().Format(time.RFC3339Nano)
		if c.seen[key] {
			continue
		}
		c.seen[key] = true
		e := traceEntry{Time: a.At, Source: base.Source, Seq: base.Seq, Kind: "attempt", Subject: base.Subject,
			Event: base.Event, Op: base.Op, ID: opID, TriggerID: base.TriggerID, TraceID: base.TraceID,
			Error: a.Error, HTTPStatus: a.Status, LatencyMS: float64(a.Latency.Microseconds()) / 1000}
		e.Status = "no response"
		if a.Status != 0 {
			e.Status = strconv.Itoa(a.Status)
		}
		notes := []string{fmt.Sprintf("attempt %d", a.N)}
		for _, f := range []struct {
			on   bool
			name string
		}{{a.Lookup, "lookup"}, {a.Transient, "transient"}, {a.Unknown, "outcome unknown"}, {a.Outage, "outage"}} {
			if f.on {
				notes = append(notes, f.name)
			}
		}
		if a.Excerpt != "" && a.Error == "" {
			notes = append(notes, a.Excerpt)
		}
		e.Detail = strings.Join(notes, "; ")
		c.emit(e)
	}
}

// finish sorts the entries: by time, then along the pipeline, then by sequence.
//
// A plan and its operations are stored in one batch (bus.Batcher) in two streams, so an
// operation can be stored a moment before its plan: it is ordered after the plan.
func (c *traceCollector) finish() {
	planAt := map[string]time.Time{}
	for _, e := range c.res.Entries {
		if t, ok := planAt[e.TriggerID]; e.Kind == "plan" && e.TriggerID != "" && (!ok || e.Time.Before(t)) {
			planAt[e.TriggerID] = e.Time
		}
	}
	at := func(e traceEntry) time.Time {
		if t, ok := planAt[e.TriggerID]; ok && e.Kind == "op" && e.Time.Before(t) {
			return t
		}
		return e.Time
	}
	sort.SliceStable(c.res.Entries, func(i, j int) bool {
		a, b := c.res.Entries[i], c.res.Entries[j]
		if ta, tb := at(a), at(b); !ta.Equal(tb) {
			return ta.Before(tb)
		}
		if kindRank[a.Kind] != kindRank[b.Kind] {
			return kindRank[a.Kind] < kindRank[b.Kind]
		}
		return a.Seq < b.Seq
	})
}

// attemptsNote is "N attempt(s)" and, when the attempts include lookups, requests cut
// off or requests made while the destination was down for everyone, how many of them
// count against retry.attempts (runner.CountAttempts: what "gave up after N attempts"
// and the dead letter's Scw-Attempt count).
func attemptsNote(as []events.Attempt) string {
	var lookups, unknown, outage int
	for _, a := range as {
		if a.Lookup {
			lookups++
		}
		switch {
		case a.Unknown:
			unknown++
		case a.Outage:
			outage++
		}
	}
	counted := runner.CountAttempts(as)
	note := fmt.Sprintf("%d attempt(s)", len(as))
	if lookups+unknown+outage == 0 {
		return note
	}
	note += fmt.Sprintf(": %d counted against retry.attempts", counted)
	for _, p := range []struct {
		n    int
		what string
	}{{lookups, "lookup(s)"}, {unknown, "cut off"}, {outage, "while the server was down"}} {
		if p.n > 0 {
			note += fmt.Sprintf(", %d %s", p.n, p.what)
		}
	}
	return note
}

// short is the first 8 characters of an id, of its hash for an id that is a name and a
// hash (a callback's, `webhook-1a2b…`: its first 8 characters would be the server's name,
// the same for every callback).
func short(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && len(id)-i-1 >= 16 && isHex(id[i+1:]) {
		id = id[i+1:]
	}
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

// excerpt is the first line of s, at most n runes.
func excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
