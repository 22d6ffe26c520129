package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
	"github.com/triggerflow/triggerflow/services/notifier"
)

// deadLetterServices are the services whose dead letters SCW_DLQ holds (scw.dlq.<service>.<ticket>).
var deadLetterServices = []string{dispatcher.ServiceName, itsmsync.ServiceName, notifier.ServiceName}

const redriveHelp = `Usage: triggerflow redrive [--service S] [--ticket T] [--since T] [--all] [--skip] [--again] [--dry-run] [--json]

Republishes dead letters from SCW_DLQ to the subject they were going to
(Scw-Original-Subject), with their payload and headers, minus those of the dead letter
(Scw-Error, Scw-Service, Scw-Original-Subject, Scw-Attempt, Nats-*): what the alert
email's "nats sub … | nats pub" command does, for many at once. Run it once the cause is
fixed. A redriven operation is performed again unless it is done already; a redriven
trigger is planned again.

Each redrive is recorded in the bucket scw_redrives under the dead letter's SCW_DLQ
sequence (when, by whom, to which subject, the new message's id), and the republished
message's Nats-Msg-Id is redrive-<sequence>: two redrives at once store it once, and a
later redrive skips what was redriven (listed as already redriven) unless --again.

--skip adds Scw-Skip: true: an operation that heads a parked lane is skipped (a skipped
result, no call) and what it held back goes out.

Without --service, --ticket or --since it refuses, unless --all. --dry-run lists what
would be redriven and changes nothing. One line per dead letter on stdout (--json: one
object with dlq_seq, ticket, service, subject, outcome [redriven, would-redrive,
already-redriven, failed], msg_id, seq, error, at, by); progress and the summary on
stderr. Exits 1 if a dead letter could not be redriven or none matched, 0 otherwise.
`

// redriveLine is one dead letter's outcome (the --json output).
type redriveLine struct {
	DLQSeq  uint64    `json:"dlq_seq"`
	Ticket  string    `json:"ticket"`
	Service string    `json:"service"`
	Subject string    `json:"subject"`
	Outcome string    `json:"outcome"` // redriven, would-redrive, already-redriven, failed
	MsgID   string    `json:"msg_id,omitempty"`
	Seq     uint64    `json:"seq,omitempty"` // of the republished message
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at,omitzero"` // of the (earlier) redrive
	By      string    `json:"by,omitempty"`
}

// deadLetterHeaders are dropped from a redriven message.
var deadLetterHeaders = []string{events.HdrError, events.HdrService, events.HdrOriginalSubject, events.HdrAttempt, events.HdrSkip, events.HdrForce, events.HdrParkedBehind}

type redriveOpts struct {
	service, ticket   string
	since             time.Time
	all, skip, again  bool
	dryRun, json      bool
	timeout           time.Duration
	by                string
	stdout, stderr    io.Writer
	progressThreshold int
}

// redriveCmd runs `triggerflow redrive`.
func redriveCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("triggerflow redrive", flag.ContinueOnError)
	var o opsFlags
	o.register(fs, true)
	r := redriveOpts{stdout: stdout, stderr: stderr, progressThreshold: 20}
	fs.StringVar(&r.service, "service", "", "only dead letters of this `service` (dispatcher, itsm-sync, notifier)")
	fs.StringVar(&r.ticket, "ticket", "", "only dead letters of this `ticket`")
	since := fs.String("since", "", "only dead letters from this `time` on: a duration before now (2h) or a time (RFC 3339, or 2006-01-02)")
	fs.BoolVar(&r.all, "all", false, "every dead letter (needed when no other filter is given)")
	fs.BoolVar(&r.skip, "skip", false, "redrive with Scw-Skip: true: skip the operation and release what its lane parked behind it")
	fs.BoolVar(&r.again, "again", false, "redrive also what was redriven before")
	usage := func(w io.Writer) { fmt.Fprint(w, redriveHelp, "\nFlags:\n"); printFlags(fs, w) }
	if code, done := parseFlags(fs, args, usage, stdout, stderr); done {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "triggerflow redrive: %v\n", err)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	var err error
	if r.service != "" && !slices.Contains(deadLetterServices, r.service) {
		return fail(2, fmt.Errorf("--service %q: not a service that dead-letters; one of %s", r.service, strings.Join(deadLetterServices, ", ")))
	}
	if r.ticket != "" {
		if r.ticket, err = ticketArg("--ticket", r.ticket); err != nil {
			return fail(2, err)
		}
	}
	if r.since, err = parseSince(*since, time.Now()); err != nil {
		return fail(2, err)
	}
	if r.service == "" && r.ticket == "" && r.since.IsZero() && !r.all {
		return fail(2, errors.New("no filter: give --service, --ticket or --since, or --all to redrive every dead letter"))
	}
	r.dryRun, r.json, r.timeout, r.by = o.dryRun, o.json, o.timeout, operator()
	s, err := o.connect(stderr)
	if err != nil {
		return fail(1, err)
	}
	defer s.Close()
	return redrive(context.Background(), s, r)
}

// operator is who runs the command: user@host.
func operator() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return orDash(name) + "@" + orDash(host)
}

// dlqFilter is the SCW_DLQ subject of the service and ticket (either may be empty).
func dlqFilter(service, ticket string) string {
	if service == "" {
		service = "*"
	}
	if ticket == "" {
		ticket = "*"
	}
	return fmt.Sprintf(events.SubjDLQT, service, ticket)
}

// deadLetter is one SCW_DLQ message.
type deadLetter struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// redrive handles the matching dead letters one by one as they are read (a large DLQ is
// not held in memory), up to the last one stored when it started.
func redrive(ctx context.Context, s *opsSession, r redriveOpts) int {
	filter := dlqFilter(r.service, r.ticket)
	kv, err := redrivesBucket(ctx, s, r.dryRun)
	if err != nil {
		fmt.Fprintf(r.stderr, "triggerflow redrive: %v\n", err)
		return 1
	}
	verb := "redrive: handled"
	if r.dryRun {
		verb = "redrive: listed"
	}
	prog := newProgress(r.stderr, verb, 0)
	counts := map[string]int{}
	err = readStream(ctx, s.JS, events.StreamDLQ, []string{filter}, r.since, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		dl := deadLetter{seq: md.Sequence.Stream, subject: m.Subject(), header: m.Headers(), data: m.Data()}
		line := redriveOne(ctx, s.JS, kv, dl, r)
		counts[line.Outcome]++
		if r.json {
			err = printJSON(r.stdout, line)
		} else {
			printRedriveLine(r.stdout, line)
		}
		prog.add(1)
		return err
	})
	if prog.done >= r.progressThreshold || time.Since(prog.start) >= time.Second {
		prog.finish()
	}
	if err != nil {
		fmt.Fprintf(r.stderr, "triggerflow redrive: %v\n", err)
		return 1
	}
	if prog.done == 0 {
		where := filter
		if !r.since.IsZero() {
			where += " since " + r.since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(r.stderr, "no dead letters in %s match %s\n", events.StreamDLQ, where)
		return 1
	}
	fmt.Fprintln(r.stderr, redriveSummary(counts))
	if counts["failed"] > 0 {
		return 1
	}
	return 0
}

// redrivesBucket opens scw_redrives, creating it (with the other buckets) when the
// services that provision it have not run since it was introduced. A dry run creates
// nothing: no bucket means nothing was redriven.
func redrivesBucket(ctx context.Context, s *opsSession, dryRun bool) (jetstream.KeyValue, error) {
	kv, err := s.JS.KeyValue(ctx, events.BucketRedrives)
	switch {
	case err == nil:
		return kv, nil
	case !errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, fmt.Errorf("bucket %s: %w", events.BucketRedrives, err)
	case dryRun:
		return nil, nil
	}
	kvs, err := natsconn.EnsureBuckets(ctx, s.JS, s.Config.NATS.Replicas)
	if err != nil {
		return nil, err
	}
	return kvs[events.BucketRedrives], nil
}

// redriveOne republishes one dead letter, unless it was redriven already, and records it.
// It is one function (~85 lines) because its steps share the dead letter's record: claim,
// republish, record, each with its own way to fail reported on the same line.
func redriveOne(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, dl deadLetter, r redriveOpts) redriveLine {
	line := redriveLine{DLQSeq: dl.seq, Ticket: dl.header.Get(events.HdrTicketID), Service: dl.header.Get(events.HdrService),
		Subject: dl.header.Get(events.HdrOriginalSubject), Outcome: "failed"}
	if line.Ticket == "" { // the last token of scw.dlq.<service>.<ticket>
		line.Ticket = dl.subject[strings.LastIndexByte(dl.subject, '.')+1:]
	}
	if line.Subject == "" {
		line.Error = "no " + events.HdrOriginalSubject + " header: not a dead letter of triggerflow"
		return line
	}
	key := events.RedriveKey(dl.seq)
	var prev events.Redrive
	var rev uint64
	if kv != nil {
		en, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			rev = en.Revision()
			if err := json.Unmarshal(en.Value(), &prev); err != nil {
				line.Error = fmt.Sprintf("%s %s: %v", events.BucketRedrives, key, err)
				return line
			}
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			line.Error = fmt.Sprintf("read %s %s: %v", events.BucketRedrives, key, err)
			return line
		}
	}
	if rev != 0 && !r.again {
		line.Outcome, line.MsgID, line.Seq, line.At, line.By = "already-redriven", prev.MsgID, prev.Seq, prev.At, prev.By
		return line
	}
	line.MsgID = events.RedriveMsgID(dl.seq, prev.Count+1)
	if r.dryRun {
		line.Outcome = "would-redrive"
		return line
	}
	m := nats.NewMsg(line.Subject)
	m.Data = dl.data
	for k, vs := range dl.header {
		if strings.HasPrefix(k, "Nats-") {
			continue
		}
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	for _, h := range deadLetterHeaders {
		m.Header.Del(h)
	}
	if r.skip {
		m.Header.Set(events.HdrSkip, "true")
	}
	m.Header.Set(nats.MsgIdHdr, line.MsgID)
	at := time.Now().UTC() // before the publish: the record sorts before what it causes
	pctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ack, err := js.PublishMsg(pctx, m)
	if err != nil {
		line.Error = fmt.Sprintf("publish to %s: %v", line.Subject, err)
		return line
	}
	line.Seq = ack.Sequence
	rec := events.Redrive{DLQSeq: dl.seq, Ticket: line.Ticket, Service: line.Service, Subject: line.Subject, MsgID: line.MsgID,
		Seq: ack.Sequence, Skip: r.skip, At: at, By: r.by, Count: prev.Count + 1, Error: dl.header.Get(events.HdrError)}
	b, _ := json.Marshal(rec)
	if rev == 0 {
		_, err = kv.Create(pctx, key, b)
	} else {
		_, err = kv.Update(pctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || natsconn.IsWrongRevision(err) {
		// Someone else redrove it at the same time: the message id made it one message.
		line.Outcome, line.Error = "already-redriven", "redriven at the same time by another redrive"
		return line
	}
	if err != nil {
		line.Error = fmt.Sprintf("redriven as %s, but not recorded in %s: %v", line.MsgID, events.BucketRedrives, err)
		return line
	}
	line.Outcome, line.At, line.By = "redriven", rec.At, rec.By
	if ack.Duplicate {
		line.Error = "stored once already (same Nats-Msg-Id within the dedup window)"
	}
	return line
}

func printRedriveLine(w io.Writer, l redriveLine) {
	s := fmt.Sprintf("%-16s SCW_DLQ #%-6d %-10s ticket %-8s -> %s", l.Outcome, l.DLQSeq, l.Service, l.Ticket, l.Subject)
	switch l.Outcome {
	case "redriven", "would-redrive":
		s += " as " + l.MsgID
	case "already-redriven":
		if !l.At.IsZero() {
			s += fmt.Sprintf(" (%s by %s, as %s)", l.At.UTC().Format(time.RFC3339), l.By, l.MsgID)
		}
	}
	if l.Error != "" {
		s += ": " + l.Error
	}
	fmt.Fprintln(w, s)
}

// redriveSummary is the last line on stderr.
func redriveSummary(c map[string]int) string {
	var parts []string
	for _, k := range []struct{ key, text string }{
		{"redriven", "redriven"}, {"would-redrive", "would be redriven (dry run: nothing changed)"},
		{"already-redriven", "already redriven (skipped; --again to redrive them anyway)"}, {"failed", "failed"},
	} {
		if c[k.key] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[k.key], k.text))
		}
	}
	if c["redriven"] == 0 && c["would-redrive"] == 0 && c["failed"] == 0 {
		return "nothing to redrive: " + strings.Join(parts, ", ")
	}
	return "redrive: " + strings.Join(parts, ", ")
}
