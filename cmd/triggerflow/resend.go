package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/pkg/events"
)

const resendHelp = `Usage: triggerflow resend OPERATION-ID [--dry-run] [--json]

Performs one operation again, on purpose: finds its message in SCW_OPS (the ticket's
lane, from its done marker in scw_done; else a scan of the whole stream, with progress)
and republishes its latest copy to scw.op.<kind>.<target>.<ticket> with Scw-Force: true
(performed although it is done; its result says forced), Scw-Resend: <n> (its n-th
resend) and the message id <operation id>.resend.<n>.
`

// resent is what resend sends (or would): its line of output.
type resent struct {
	OperationID string `json:"operation_id"`
	Seq         uint64 `json:"seq"`     // the copy in SCW_OPS it republishes
	Subject     string `json:"subject"` // where it goes
	Ticket      string `json:"ticket"`
	Resend      int    `json:"resend"`
	MsgID       string `json:"msg_id"`
	Scanned     int    `json:"scanned"` // messages of SCW_OPS read to find it
	DryRun      bool   `json:"dry_run,omitempty"`
}

func resendCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("triggerflow resend", flag.ContinueOnError)
	var o opsFlags
	o.register(fs, true)
	usage := func(w io.Writer) { fmt.Fprint(w, resendHelp, "\nFlags:\n"); printFlags(fs, w) }
	// The operation id may come before the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if code, done := parseFlags(fs, args, usage, stdout, stderr); done {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "triggerflow resend: "+format+"\n", a...)
		return code
	}
	rest := fs.Args()
	if id == "" && len(rest) > 0 {
		id, rest = rest[0], rest[1:]
	}
	switch {
	case len(rest) > 0:
		return fail(2, "unexpected argument %q", rest[0])
	case id == "":
		return fail(2, "which operation? triggerflow resend OPERATION-ID (its id is in its result, plan and dead letter)")
	case strings.ContainsAny(id, ".*> \t\r\n"):
		return fail(2, "%q is not an operation id", id)
	}
	s, err := o.connect(stderr)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer s.Close()
	ctx := context.Background()
	found, err := findOperation(ctx, s.JS, id, o.timeout, stderr)
	if err != nil {
		return fail(1, "%v", err)
	}
	msg, out := resendMsg(found)
	out.DryRun = o.dryRun
	if !o.dryRun {
		pctx, cancel := context.WithTimeout(ctx, o.timeout)
		ack, err := s.JS.PublishMsg(pctx, msg)
		cancel()
		if err != nil {
			return fail(1, "republish operation %s: %v", id, err)
		}
		if ack.Duplicate {
			return fail(1, "operation %s: resend %d is stored already (message id %s); run it again", id, out.Resend, out.MsgID)
		}
	}
	if o.json {
		if err := printJSON(stdout, out); err != nil {
			return fail(1, "%v", err)
		}
		return 0
	}
	verb := "resent"
	if o.dryRun {
		verb = "would resend"
	}
	fmt.Fprintf(stdout, "%s operation %s (seq %d, ticket %s) to %s, forced: resend %d, message id %s\n",
		verb, id, out.Seq, out.Ticket, out.Subject, out.Resend, out.MsgID)
	if note := parkedNote(ctx, s.JS, found.op, o.timeout); note != "" {
		fmt.Fprintln(stderr, "triggerflow resend: note: "+note)
	}
	return 0
}

// parkedNote says, when op's lane is parked behind another operation, that the resent
// copy waits behind it too (it is parked, not performed, until that one is redriven or
// skipped); "" when the lane is open or its state cannot be read.
func parkedNote(ctx context.Context, js jetstream.JetStream, op events.Operation, wait time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	kv, err := js.KeyValue(ctx, events.BucketParked)
	if err != nil {
		return ""
	}
	en, err := kv.Get(ctx, op.Lane())
	if err != nil {
		return ""
	}
	var p events.Park
	if json.Unmarshal(en.Value(), &p) != nil || p.Head == "" || p.Head == op.ID {
		return ""
	}
	return fmt.Sprintf("lane %s is parked behind operation %s (%s/%s, %d parked): this copy waits there too, and is performed once that one is redriven (triggerflow redrive --ticket %s) or skipped (with --skip)",
		op.Lane(), p.Head, p.HeadRoute, p.HeadAct, p.Parked, op.Ticket)
}

// foundOp is an operation's latest copy in SCW_OPS and how often it was resent.
type foundOp struct {
	op      events.Operation
	raw     *jetstream.RawStreamMsg
	resends int
	scanned int
}

// findOperation finds operation id in SCW_OPS. Its last result names its kind, target
// and ticket, so only that lane is read; without one the whole stream is
// scanned, headers only. A copy is a message whose id is the operation's, or one of its
// replays or resends (<id>.replay.…, <id>.resend.…).
func findOperation(ctx context.Context, js jetstream.JetStream, id string, wait time.Duration, progress io.Writer) (foundOp, error) {
	filter, where := events.SubjOps, "SCW_OPS (no result of it in "+events.StreamResults+": every operation is read)"
	// A direct get: a result not yet on the server that answers only widens the scan.
	mark, err := natsconn.Reader{NC: js.Conn()}.Last(ctx, events.StreamResults, events.ResultsOf(events.Operation{Kind: "*", Ticket: "*", ID: id}))
	if err == nil {
		if r, err := events.UnmarshalResult(mark.Data); err == nil && r.OperationID == id && r.Kind != "" && r.Ticket != "" {
			op := events.Operation{Kind: r.Kind, Target: r.Target, Ticket: r.Ticket}
			filter, where = op.StoredSubject(), op.StoredSubject()+" (from its result)"
		}
	}
	var f foundOp
	var seq uint64
	n, err := scan(ctx, js, events.StreamOps, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, HeadersOnly: true},
		wait, progress, "scanned", func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
			mid := m.Headers().Get(nats.MsgIdHdr)
			if mid != id && !strings.HasPrefix(mid, id+".") {
				return nil
			}
			seq = meta.Sequence.Stream
			if r, err := strconv.Atoi(m.Headers().Get(events.HdrResend)); err == nil {
				f.resends = max(f.resends, r)
			}
			return nil
		})
	f.scanned = n
	if err != nil {
		return f, err
	}
	if seq == 0 {
		return f, fmt.Errorf("operation %s not found in %s: %d message(s) read; it may be older than the stream's max age, or the id mistyped", id, where, n)
	}
	st, err := js.Stream(ctx, events.StreamOps)
	if err != nil {
		return f, err
	}
	if f.raw, err = st.GetMsg(ctx, seq); err != nil {
		return f, fmt.Errorf("read operation %s (seq %d): %w", id, seq, err)
	}
	if f.op, err = events.UnmarshalOperation(f.raw.Data); err != nil {
		return f, fmt.Errorf("operation %s (seq %d): %w", id, seq, err)
	}
	if f.op.ID != id {
		return f, errors.New("operation " + id + ": the message found (seq " + strconv.FormatUint(seq, 10) + ") holds operation " + f.op.ID)
	}
	return f, nil
}

// resendMsg is the forced copy of f's operation: its headers but the replay's, the
// skip's and the lane's, Scw-Force: true, Scw-Resend: <n> and the message id
// <operation id>.resend.<n>.
func resendMsg(f foundOp) (*nats.Msg, resent) {
	n := f.resends + 1
	out := resent{OperationID: f.op.ID, Seq: f.raw.Sequence, Subject: f.op.Subject(), Ticket: f.op.Ticket,
		Resend: n, MsgID: f.op.ID + ".resend." + strconv.Itoa(n), Scanned: f.scanned}
	m := nats.NewMsg(out.Subject)
	m.Data = f.raw.Data
	for k, v := range f.raw.Header {
		switch k {
		case events.HdrReplay, events.HdrReplayOf, events.HdrSkip, events.HdrParkedBehind, events.HdrOrder:
		default:
			if !strings.HasPrefix(k, "Nats-") {
				m.Header[k] = v
			}
		}
	}
	m.Header.Set(events.HdrForce, "true")
	m.Header.Set(events.HdrResend, strconv.Itoa(n))
	m.Header.Set(nats.MsgIdHdr, out.MsgID)
	return m, out
}
