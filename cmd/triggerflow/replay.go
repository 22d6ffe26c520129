package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
)

const replayHelp = `Usage: triggerflow replay --since TIME|--from-seq N [--ticket ID] [--event EVENT] [--force] [--id ID] [--dry-run] [--json]

Plans stored triggers again, without touching the dispatcher's consumers: reads
SCW_TRIGGERS from --since (RFC 3339, or a duration: 2h is two hours ago) or --from-seq
(a stream sequence), optionally only one ticket's or one event's, and republishes each
trigger to scw.trigger.<event>.<ticket>, where it is planned behind whatever its ticket
already has. Operations already done are not performed again (each gets a skipped
result); --force performs them again on purpose (their results say forced). Triggers an
earlier replay republished are left out (their originals are replayed).

Each republished trigger carries Scw-Replay: <replay id> (--id, else generated),
Scw-Replay-Of: <its stream sequence> and the message id <trigger id>.replay.<replay id>:
running the same replay id again stores nothing twice.
`

// replayIDPattern: a replay id is part of message ids and headers.
var replayIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// replayed is one trigger a replay republishes (or would): a line of --json.
type replayed struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Subject   string    `json:"subject"` // where it is republished
	TriggerID string    `json:"trigger_id"`
	MsgID     string    `json:"msg_id"`
	Duplicate bool      `json:"duplicate,omitempty"` // this replay id had stored it already
}

// replaySummary is the last line of --json.
type replaySummary struct {
	Replay     string `json:"replay"`
	Filter     string `json:"filter"`
	Force      bool   `json:"force"`
	DryRun     bool   `json:"dry_run"`
	Read       int    `json:"read"`
	Replayed   int    `json:"replayed"`
	Duplicates int    `json:"duplicates"`     // stored already by this replay id
	Copies     int    `json:"earlier_copies"` // republished by an earlier replay: left out
}

// replayCmd is `triggerflow replay`: flags, their checks, the run and its report, in the
// order the help lists them (~85 lines, one flag after the other).
func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("triggerflow replay", flag.ContinueOnError)
	var o opsFlags
	o.register(fs, true)
	since := fs.String("since", "", "replay triggers stored since `TIME` (RFC 3339, or a duration ago: 2h)")
	fromSeq := fs.Uint64("from-seq", 0, "replay triggers from stream sequence `N` of SCW_TRIGGERS")
	ticket := fs.String("ticket", "", "only this ticket's triggers")
	event := fs.String("event", "", "only this event's triggers (CREATE, ADVANCE, …)")
	force := fs.Bool("force", false, "perform operations again even if already done (Scw-Force: true)")
	id := fs.String("id", "", "replay `id` (default: generated); the same id twice stores nothing twice")
	usage := func(w io.Writer) { fmt.Fprint(w, replayHelp, "\nFlags:\n"); printFlags(fs, w) }
	if code, done := parseFlags(fs, args, usage, stdout, stderr); done {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "triggerflow replay: "+format+"\n", a...)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q", fs.Arg(0))
	}
	cc, err := replayStart(*since, *fromSeq, time.Now())
	if err != nil {
		return fail(2, "%v", err)
	}
	filter, err := replayFilter(*event, *ticket)
	if err != nil {
		return fail(2, "%v", err)
	}
	cc.FilterSubjects = []string{filter}
	if *id == "" {
		*id = newReplayID(time.Now())
	} else if !replayIDPattern.MatchString(*id) {
		return fail(2, "--id %q: use 1 to 64 letters, digits, - or _", *id)
	}
	s, err := o.connect(stderr)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer s.Close()
	sum, err := replay(context.Background(), s.JS, replayRun{
		cc: cc, id: *id, force: *force, dryRun: o.dryRun, wait: o.timeout, stderr: stderr,
		each: func(r replayed) error {
			switch {
			case o.json:
				return printJSON(stdout, r)
			case o.dryRun:
				_, err := fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\n", r.Seq, r.Time.UTC().Format(time.RFC3339), r.Subject, r.TriggerID)
				return err
			}
			return nil
		},
	})
	sum.Filter = filter
	if err != nil {
		return fail(1, "replay %s (%d of the triggers read were republished): %v", *id, sum.Replayed, err)
	}
	if o.json {
		if err := printJSON(stdout, sum); err != nil {
			return fail(1, "%v", err)
		}
		return 0
	}
	verb := "republished"
	if o.dryRun {
		verb = "would republish"
	}
	fmt.Fprintf(stdout, "replay %s: %s %d trigger(s) of %s on %s", sum.Replay, verb, sum.Replayed, filter, s.URL)
	if sum.Duplicates > 0 {
		fmt.Fprintf(stdout, " (%d already stored by this replay id)", sum.Duplicates)
	}
	if sum.Copies > 0 {
		fmt.Fprintf(stdout, "; %d copies from earlier replays left out", sum.Copies)
	}
	switch {
	case o.dryRun:
	case sum.Force:
		fmt.Fprint(stdout, "; their operations are performed again (forced)")
	default:
		fmt.Fprint(stdout, "; operations already done are skipped (--force performs them again)")
	}
	fmt.Fprintln(stdout)
	return 0
}

// replayStart is where the replay starts reading: --since (RFC 3339 or a duration ago)
// or --from-seq, exactly one of them.
func replayStart(since string, fromSeq uint64, now time.Time) (jetstream.OrderedConsumerConfig, error) {
	var cc jetstream.OrderedConsumerConfig
	switch {
	case since == "" && fromSeq == 0:
		return cc, errors.New("say where to start: --since TIME (RFC 3339, or a duration ago: 2h) or --from-seq N")
	case since != "" && fromSeq != 0:
		return cc, errors.New("--since and --from-seq exclude each other")
	case fromSeq != 0:
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, fromSeq
		return cc, nil
	}
	t, err := parseSince(since, now)
	if err != nil {
		return cc, err
	}
	cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	return cc, nil
}

// replayFilter is the stored subjects to read: scw.trigger.<event|*>.*.<ticket|*>.
func replayFilter(event, ticket string) (string, error) {
	ev, tk := "*", "*"
	if event != "" {
		t, err := events.ParseTrigger(strings.ToUpper(event))
		if err != nil {
			return "", fmt.Errorf("--event: %w", err)
		}
		ev = t.Token()
	}
	if ticket != "" {
		var err error
		if tk, err = ticketArg("--ticket", ticket); err != nil {
			return "", err
		}
	}
	return "scw.trigger." + ev + ".*." + tk, nil
}

// newReplayID is a replay id: the time, and a random part for two replays in a second.
func newReplayID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// replayRun is one replay's settings.
type replayRun struct {
	cc            jetstream.OrderedConsumerConfig
	id            string
	force, dryRun bool
	wait          time.Duration
	stderr        io.Writer            // progress
	each          func(replayed) error // each trigger republished (or, dry, that would be)
}

// maxInFlight bounds the republished triggers awaiting their acknowledgement.
const maxInFlight = 256

// replay reads the triggers and republishes them, acknowledgements awaited in order. The
// read callback and settle share the window of acknowledgements awaited, hence one
// function (~85 lines).
func replay(ctx context.Context, js jetstream.JetStream, r replayRun) (replaySummary, error) {
	sum := replaySummary{Replay: r.id, Force: r.force, DryRun: r.dryRun}
	type pending struct {
		rec replayed
		f   jetstream.PubAckFuture
	}
	var window []pending
	// settle takes p's acknowledgement, waiting for it if block (else reporting false
	// when it has not come yet).
	settle := func(p pending, block bool) (bool, error) {
		var ack *jetstream.PubAck
		var err error
		if block {
			select {
			case ack = <-p.f.Ok():
			case err = <-p.f.Err():
			case <-time.After(r.wait):
				err = fmt.Errorf("no acknowledgement in %s", r.wait)
			}
		} else {
			select {
			case ack = <-p.f.Ok():
			case err = <-p.f.Err():
			default:
				return false, nil
			}
		}
		if err != nil {
			return true, fmt.Errorf("republish trigger %s (seq %d): %w", p.rec.TriggerID, p.rec.Seq, err)
		}
		p.rec.Duplicate = ack.Duplicate
		sum.Replayed++
		if p.rec.Duplicate {
			sum.Duplicates++
		}
		return true, r.each(p.rec)
	}
	read, err := scan(ctx, js, events.StreamTriggers, r.cc, r.wait, r.stderr, "read", func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		h := m.Headers()
		if h.Get(events.HdrReplay) != "" {
			sum.Copies++
			return nil
		}
		subject, ok := unpartitioned(m.Subject())
		if !ok {
			return fmt.Errorf("seq %d: unexpected subject %q", meta.Sequence.Stream, m.Subject())
		}
		tid, err := storedTriggerID(m, meta)
		if err != nil {
			return err
		}
		rec := replayed{Seq: meta.Sequence.Stream, Time: meta.Timestamp, Subject: subject, TriggerID: tid, MsgID: events.ReplayMsgID(tid, r.id)}
		if r.dryRun {
			sum.Replayed++
			return r.each(rec)
		}
		f, err := js.PublishMsgAsync(replayCopy(m, rec, r))
		if err != nil {
			return fmt.Errorf("republish trigger %s (seq %d): %w", tid, rec.Seq, err)
		}
		window = append(window, pending{rec, f})
		for len(window) > 0 {
			ok, err := settle(window[0], len(window) >= maxInFlight)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			window = window[1:]
		}
		return nil
	})
	sum.Read = read
	if err != nil {
		return sum, err
	}
	for _, p := range window {
		if _, err := settle(p, true); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// storedTriggerID is a stored trigger's id: its header, else its message id, else the id
// in its body.
func storedTriggerID(m jetstream.Msg, meta *jetstream.MsgMetadata) (string, error) {
	h := m.Headers()
	if tid := h.Get(events.HdrTriggerID); tid != "" {
		return tid, nil
	}
	if tid := h.Get(nats.MsgIdHdr); tid != "" {
		return tid, nil
	}
	ev, err := events.UnmarshalTriggerEvent(m.Data())
	if err != nil || ev.ID == "" {
		return "", fmt.Errorf("seq %d on %s: no trigger id (no %s header, and not a trigger event)", meta.Sequence.Stream, m.Subject(), events.HdrTriggerID)
	}
	return ev.ID, nil
}

// replayCopy is the copy of stored trigger m that replay r publishes on rec.Subject: its
// headers but the server's (Nats-*), marked as a replay of its sequence, with its own
// message id, and forced when r is.
func replayCopy(m jetstream.Msg, rec replayed, r replayRun) *nats.Msg {
	out := nats.NewMsg(rec.Subject)
	out.Data = m.Data()
	for k, v := range m.Headers() {
		if !strings.HasPrefix(k, "Nats-") && k != events.HdrForce && k != events.HdrReplayOf {
			out.Header[k] = v
		}
	}
	out.Header.Set(events.HdrReplay, r.id)
	out.Header.Set(events.HdrReplayOf, strconv.FormatUint(rec.Seq, 10))
	if r.force {
		out.Header.Set(events.HdrForce, "true")
	}
	out.Header.Set(nats.MsgIdHdr, rec.MsgID)
	return out
}

// unpartitioned is the subject a stored subject was published on: the lane's partition
// token (the one before the ticket id) left out.
func unpartitioned(stored string) (string, bool) {
	i := strings.LastIndexByte(stored, '.')
	if i < 0 {
		return "", false
	}
	j := strings.LastIndexByte(stored[:i], '.')
	if j < 0 {
		return "", false
	}
	if _, err := strconv.Atoi(stored[j+1 : i]); err != nil {
		return "", false
	}
	return stored[:j] + stored[i:], true
}
