package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
)

const traceHelp = `Usage: triggerflow trace [flags] TICKET

What happened to a ticket: its triggers, plans, operations, every attempt, results, dead
letters, parked operations, alerts and redrives, in time order, from every stream
(SCW_TRIGGERS, SCW_PLANS, SCW_OPS, SCW_RESULTS, SCW_DLQ, SCW_PARKED, SCW_ALERTS) and
bucket (scw_correlation, scw_parked, scw_attempts, scw_done: alerts and done markers,
scw_redrives). Read-only;
it reads what is stored when it starts and does not wait for more.

One line per entry: the time since the first entry (whose absolute time is in the
header), where it is stored, the kind (trigger, plan, op, attempt, result, dlq, parked,
redrive, alert, lane, correlation, done), the event or operation (kind target
route/action), the status, a short id (the first 8 characters), and the error or a
detail; a trigger's line names its trace id (from traceparent) when it has one. Errors are
in colour when stdout is a terminal and NO_COLOR is unset.

--json prints one object per entry instead: time (RFC 3339, UTC), source (stream or
bucket), seq (stream sequence, 0 for buckets), kind, subject, event, op (kind, target,
route, action), status, id, trigger_id, trace_id, msg_id, error, detail, latency_ms
(attempts), http_status (attempts). Empty fields are left out.

Exits 1 when the ticket has no entries (or on an error), 0 otherwise.
`

// traceCmd runs `triggerflow trace`.
func traceCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("triggerflow trace", flag.ContinueOnError)
	var o opsFlags
	o.register(fs, false)
	since := fs.String("since", "", "only entries from this `time` on: a duration before now (2h) or a time (RFC 3339, or 2006-01-02)")
	usage := func(w io.Writer) { fmt.Fprint(w, traceHelp, "\nFlags:\n"); printFlags(fs, w) }
	pos, code, done := parseInterspersed(fs, args, usage, stdout, stderr)
	if done {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "triggerflow trace: want one ticket id, got %d arguments\n\n", len(pos))
		usage(stderr)
		return 2
	}
	ticket, err := ticketArg("ticket", pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "triggerflow trace: %v\n", err)
		return 2
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "triggerflow trace: %v\n", err)
		return 2
	}
	s, err := o.connect(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "triggerflow trace: %v\n", err)
		return 1
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*o.timeout)
	defer cancel()
	tr, err := collectTrace(ctx, s.JS, ticket, from)
	if err != nil {
		fmt.Fprintf(stderr, "triggerflow trace: %v\n", err)
		return 1
	}
	for _, m := range tr.Missing {
		fmt.Fprintf(stderr, "triggerflow trace: %s does not exist on %s (skipped)\n", m, s.URL)
	}
	if len(tr.Read) == 0 {
		fmt.Fprintf(stderr, "triggerflow trace: no stream or bucket of triggerflow on %s\n", s.URL)
		return 1
	}
	if len(tr.Entries) == 0 {
		where := strings.Join(tr.Read, ", ")
		if !from.IsZero() {
			where += " since " + from.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stderr, "no entries for ticket %s in %s\n", ticket, where)
		return 1
	}
	if o.json {
		for _, e := range tr.Entries {
			if err := printJSON(stdout, e); err != nil {
				fmt.Fprintf(stderr, "triggerflow trace: %v\n", err)
				return 1
			}
		}
		return 0
	}
	renderTrace(stdout, ticket, tr.Entries, colorFor(stdout))
	return 0
}

// colorFor reports whether w is a terminal and NO_COLOR is unset.
func colorFor(w io.Writer) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// collectTrace reads every stream and bucket for the ticket. A stream or bucket that does
// not exist is listed in Missing, not an error.
func collectTrace(ctx context.Context, js jetstream.JetStream, ticket string, since time.Time) (*traceResult, error) {
	c := newTraceCollector(ticket, since)
	if err := c.readTicketCorrelation(ctx, js); err != nil {
		return nil, err
	}
	for _, sf := range ticketFilters(ticket, c.recordTokens()...) {
		err := readStream(ctx, js, sf.Stream, sf.Filters, since, func(m jetstream.Msg) error {
			c.add(sf.Stream, m)
			return nil
		})
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			c.res.Missing = append(c.res.Missing, sf.Stream)
		case err != nil:
			return nil, err
		default:
			c.res.Read = append(c.res.Read, sf.Stream)
		}
	}
	if err := c.readBuckets(ctx, js); err != nil {
		return nil, err
	}
	c.finish()
	return &c.res, nil
}

// ANSI colours of the text output.
const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// renderTrace writes the entries as aligned columns, times relative to the first.
func renderTrace(w io.Writer, ticket string, entries []traceEntry, color bool) {
	t0 := entries[0].Time
	fmt.Fprintf(w, "ticket %s: %d entries from %s (times are since then)\n", ticket, len(entries), t0.UTC().Format("2006-01-02 15:04:05.000 UTC"))
	head := []string{"TIME", "STORED IN", "KIND", "EVENT / OPERATION", "STATUS", "ID"}
	rows := make([][]string, len(entries))
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len(h)
	}
	for i, e := range entries {
		what := e.Event
		switch {
		case e.Op != nil:
			what = e.Op.String()
		case e.Kind == "redrive" || e.Kind == "lane" || e.Kind == "correlation":
			what = e.Subject
		}
		id := short(e.ID)
		if e.Kind == "redrive" {
			id = "#" + e.ID
		}
		rows[i] = []string{relTime(e.Time.Sub(t0)), e.Source, e.Kind, what, e.Status, id}
		for j, c := range rows[i] {
			width[j] = max(width[j], len([]rune(c)))
		}
	}
	line := func(cells []string, colors []string, last string) {
		var b strings.Builder
		for j, c := range cells {
			pad := strings.Repeat(" ", width[j]-len([]rune(c))+2)
			if color && colors != nil && colors[j] != "" && c != "" {
				c = colors[j] + c + ansiReset
			}
			b.WriteString(c + pad)
		}
		b.WriteString(last)
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(head, nil, "ERROR / DETAIL")
	for i, e := range entries {
		colors := make([]string, len(head))
		st := ""
		switch {
		case e.Kind == "dlq" || e.Status == string(events.ResultFailed) || e.Error != "" && e.Kind == "attempt":
			st = ansiRed
		case e.Status == "parked" || e.Status == "held" || e.Kind == "redrive":
			st = ansiYellow
		case e.Status == string(events.ResultSucceeded):
			st = ansiGreen
		}
		colors[2], colors[4] = st, st
		colors[0] = ansiDim
		last := ""
		if e.Error != "" {
			last = excerpt(e.Error, 120)
			if color {
				last = ansiRed + last + ansiReset
			}
		}
		detail := e.Detail
		if e.Kind == "trigger" && e.TraceID != "" {
			detail = strings.TrimPrefix(detail+"; trace "+e.TraceID, "; ")
		}
		if detail != "" {
			if last != "" {
				last += "  "
			}
			last += "(" + excerpt(detail, 140) + ")"
		}
		line(rows[i], colors, last)
	}
}

// relTime formats the time since the first entry: +1.234s, +2m03.4s, +1h02m03s, +3d04h.
func relTime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("+%.3fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("+%dm%04.1fs", int(d/time.Minute), (d % time.Minute).Seconds())
	case d < 48*time.Hour:
		return fmt.Sprintf("+%dh%02dm%02ds", int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("+%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
