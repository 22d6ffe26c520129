package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Where a trigger's time goes, from the stream timestamps of what it left behind and
// its result's first attempt (one machine, one clock):
//
//   - ingress: POST sent → trigger stored;
//   - dispatcher: → its operation stored;
//   - lane: → the result of the operation before it in its lane stored, when that came
//     later (an ordered lane performs one operation at a time), else 0;
//   - turnaround: → its call began (the previous operation's ack, this one's delivery,
//     decoding, the done check);
//   - call: → the sink received the call.
//
// Each stage includes the queue before it: a lane's backlog shows in lane, the
// dispatcher's in dispatcher.
//
// With PIPE_PROFILE, every trigger's row is written to
// <dir>/<variant>-r<round>.stages.csv (columns: stagesCSVHeader), slowest last: whether
// the tail is spread over the run or gathered in one stretch, and on which lanes.

// stageNames are the stages, in order.
var stageNames = [...]string{"ingress", "dispatcher", "lane", "turnaround", "call"}

// stageResult is each stage's p50 and p99 over every delivered trigger, and its median
// over the slowest 1 % (e2e at or above the p99): where the tail waits.
type stageResult struct {
	p50, p99, tail [len(stageNames)]time.Duration
}

// stored is what a ticket's first message on a stream says: when it was stored, on
// which subject, and for a result when its first attempt began.
type stored struct {
	at, began time.Time
	subject   string
}

// stagesOf reads the triggers, operations (headers only) and results of the run and
// matches them by ticket id to the POSTs and deliveries; with csv, it writes every row
// there (columns: stagesCSVHeader).
func stagesOf(tb testing.TB, natsURL string, l *load, s *sink, csv string) *stageResult {
	tb.Helper()
	js := natstest.JetStream(tb, natsURL)
	trig, _ := storedOn(tb, js, events.StreamTriggers, false)
	ops, order := storedOn(tb, js, events.StreamOps, false)
	results, _ := storedOn(tb, js, events.StreamResults, true)
	// Lanes (laneOf) perform in stored order.
	laneFree := make(map[string]time.Time, len(order)) // ticket → when its lane was free for it
	last := map[string]time.Time{}                     // lane → when its last operation's result was stored
	for _, id := range order {
		lane := laneOf(ops[id].subject)
		laneFree[id] = last[lane]
		last[lane] = results[id].at
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	type row struct {
		start  time.Time // the POST
		lane   string
		e2e    time.Duration
		stages [len(stageNames)]time.Duration
	}
	rows := make([]row, 0, len(s.delivered))
	for id, at := range s.delivered {
		start, ok1 := l.started[id]
		t, ok2 := trig[id]
		op, ok3 := ops[id]
		res, ok4 := results[id]
		if !ok1 || !ok2 || !ok3 || !ok4 || res.began.IsZero() {
			tb.Fatalf("stages: ticket %s: POST %t, trigger stored %t, operation stored %t, result with an attempt %t", id, ok1, ok2, ok3, ok4 && !res.began.IsZero())
		}
		free := op.at
		if laneFree[id].After(free) {
			free = laneFree[id]
		}
		rows = append(rows, row{start, laneOf(op.subject), at.Sub(start), [...]time.Duration{
			t.at.Sub(start), op.at.Sub(t.at), free.Sub(op.at), res.began.Sub(free), at.Sub(res.began)}})
	}
	slices.SortFunc(rows, func(a, b row) int { return int(a.e2e - b.e2e) })
	if csv != "" {
		var b strings.Builder
		b.WriteString(stagesCSVHeader)
		for _, x := range rows {
			fmt.Fprintf(&b, "%.3f,%s,%.3f", x.start.Sub(l.begin).Seconds(), x.lane, ms(x.e2e))
			for _, d := range x.stages {
				fmt.Fprintf(&b, ",%.3f", ms(d))
			}
			b.WriteByte('\n')
		}
		if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
			tb.Fatalf("stages: %v", err)
		}
		tb.Log("stages: " + csv)
	}
	tail := rows[min(len(rows)-1, int(float64(len(rows))*0.99)):]
	var r stageResult
	for i := range stageNames {
		all := make([]time.Duration, len(rows))
		for j, x := range rows {
			all[j] = x.stages[i]
		}
		slow := make([]time.Duration, len(tail))
		for j, x := range tail {
			slow[j] = x.stages[i]
		}
		slices.Sort(all)
		slices.Sort(slow)
		r.p50[i], r.p99[i], r.tail[i] = quantile(all, 0.5), quantile(all, 0.99), quantile(slow, 0.5)
	}
	return &r
}

// storedOn reads stream with an ordered consumer (headers only, unless results) and
// returns, by Scw-Ticket-Id, the first message of each ticket, and the tickets in stored
// order. With results, began is the first attempt's start (events.Result).
func storedOn(tb testing.TB, js jetstream.JetStream, stream string, results bool) (map[string]stored, []string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	str, info := natstest.StreamInfo(ctx, tb, js, stream)
	byTicket := make(map[string]stored, info.State.Msgs)
	var order []string
	if info.State.Msgs == 0 {
		return byTicket, order
	}
	cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: !results})
	if err != nil {
		tb.Fatalf("stages: %s: %v", stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		tb.Fatalf("stages: %s: %v", stream, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			tb.Fatalf("stages: %s: read %d tickets of %d messages: %v", stream, len(byTicket), info.State.Msgs, err)
		}
		md, err := m.Metadata()
		if err != nil {
			tb.Fatalf("stages: %s: %v", stream, err)
		}
		id := m.Headers().Get(events.HdrTicketID)
		if _, seen := byTicket[id]; id != "" && !seen {
			st := stored{at: md.Timestamp, subject: m.Subject()}
			if results {
				var res events.Result
				if err := json.Unmarshal(m.Data(), &res); err == nil && len(res.Attempts) > 0 {
					st.began = res.Attempts[0].At
				}
			}
			byTicket[id] = st
			order = append(order, id)
		}
		if md.Sequence.Stream >= info.State.LastSeq {
			return byTicket, order
		}
	}
}

// laneOf is the lane of an operation stored on subject: the subject less the ticket
// (scw.op.<kind>.<target>.<partition>).
func laneOf(subject string) string { return subject[:strings.LastIndexByte(subject, '.')] }

// stagesCSVHeader heads a stages CSV: the POST's start in seconds since the load began,
// the operation's lane (its stored subject less the ticket), then e2e and each stage in
// milliseconds.
var stagesCSVHeader = "post_s,lane,e2e_ms," + strings.Join(stageNames[:], "_ms,") + "_ms\n"

// stagesTable is the stage breakdown of the runs that have one.
func stagesTable(results []pipeResult) string {
	var sb strings.Builder
	for _, r := range results {
		if r.stages == nil {
			continue
		}
		if sb.Len() == 0 {
			sb.WriteString("\nwhere a trigger's time goes (ms): POST → trigger stored (ingress) → operation stored (dispatcher) →\n" +
				"the lane's previous result stored, if later (lane) → the call began (turnaround: ack, delivery, done check) →\n" +
				"the sink's receipt (call); p50/p99 over every trigger, tail = the median over the slowest 1 %\n")
			fmt.Fprintf(&sb, "%-*s %5s", variantWidth, "variant", "round")
			for _, n := range stageNames {
				fmt.Fprintf(&sb, " %20s", n)
			}
			sb.WriteString("\n")
		}
		fmt.Fprintf(&sb, "%-*s %5d", variantWidth, r.variant, r.round)
		for i := range stageNames {
			fmt.Fprintf(&sb, " %20s", fmt.Sprintf("%.1f/%.1f/%.1f", ms(r.stages.p50[i]), ms(r.stages.p99[i]), ms(r.stages.tail[i])))
		}
		sb.WriteString("\n")
	}
	return sb.String()
}
