package events_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/pkg/events"
)

func TestSubjectPairs(t *testing.T) {
	t.Parallel()
	// Every format, filled in, is matched by its wildcard.
	tests := []struct {
		wildcard, format string
		args             []any
		want             string
	}{
		{events.SubjTriggers, events.SubjTriggerT, []any{"advance", "1234"}, "scw.trigger.advance.1234"},
		{events.SubjOps, events.SubjOpT, []any{"itsm", "snow", "1234"}, "scw.op.itsm.snow.1234"},
		{events.SubjResults, events.SubjResultT, []any{"itsm", "failed", "1234", "op1"}, "scw.result.itsm.failed.1234.op1"},
		{events.SubjDLQ, events.SubjDLQT, []any{"dispatcher", "1234"}, "scw.dlq.dispatcher.1234"},
		{events.SubjTriggers, events.SubjTriggerStoredT, []any{"advance", 7, "1234"}, "scw.trigger.advance.7.1234"},
		{events.SubjOps, events.SubjOpStoredT, []any{"itsm", "snow", 7, "1234"}, "scw.op.itsm.snow.7.1234"},
		{events.SubjParked, events.SubjParkedT, []any{"snow", "1234"}, "scw.parked.snow.1234"},
		{events.SubjAlerts, events.SubjAlertDigT, []any{"1234"}, "scw.alert.digest.1234"},
	}
	for _, tt := range tests {
		got := fmt.Sprintf(tt.format, tt.args...)
		if got != tt.want {
			t.Errorf("Sprintf(%q) = %q, want %q", tt.format, got, tt.want)
		}
		if !strings.HasPrefix(got, strings.TrimSuffix(tt.wildcard, ">")) {
			t.Errorf("%q is not matched by %q", got, tt.wildcard)
		}
	}
}

func TestStreams(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		name string
		opts events.StreamOptions
		// replicas, trigger max age, duplicates expected on the streams
		replicas   int
		triggerAge time.Duration
		dupes      time.Duration
	}{
		{name: "defaults", replicas: 1, triggerAge: 30 * day, dupes: 10 * time.Minute},
		{
			name:     "explicit",
			opts:     events.StreamOptions{Replicas: 3, TriggerMaxAge: 7 * day, Duplicates: time.Hour},
			replicas: 3, triggerAge: 7 * day, dupes: time.Hour,
		},
		{
			// Validation is the config's job: a short window is kept.
			name:     "short dedup window kept as given",
			opts:     events.StreamOptions{Duplicates: time.Minute},
			replicas: 1, triggerAge: 30 * day, dupes: time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := events.Streams(tt.opts)
			want := []struct {
				name    string
				subject string
				maxAge  time.Duration
			}{
				{events.StreamTriggers, events.SubjTriggers, tt.triggerAge},
				{events.StreamOps, events.SubjOps, events.OpsMaxAge},
				{events.StreamResults, events.SubjResults, events.ResultsMaxAge},
				{events.StreamPlans, events.SubjPlans, events.OpsMaxAge},
				{events.StreamDLQ, events.SubjDLQ, events.DLQMaxAge},
				{events.StreamParked, events.SubjParked, events.DLQMaxAge},
				{events.StreamAlerts, events.SubjAlerts, events.ResultsMaxAge},
			}
			if len(got) != len(want) {
				t.Fatalf("Streams() returned %d streams, want %d", len(got), len(want))
			}
			for i, w := range want {
				s := got[i]
				if s.Name != w.name || !reflect.DeepEqual(s.Subjects, []string{w.subject}) {
					t.Errorf("stream %d = %s %v, want %s [%s]", i, s.Name, s.Subjects, w.name, w.subject)
				}
				if s.MaxAge != w.maxAge || s.Duplicates != tt.dupes || s.Replicas != tt.replicas {
					t.Errorf("%s: MaxAge %v Duplicates %v Replicas %d, want %v %v %d",
						s.Name, s.MaxAge, s.Duplicates, s.Replicas, w.maxAge, tt.dupes, tt.replicas)
				}
				if s.Description == "" {
					t.Errorf("%s has no description", s.Name)
				}
				if s.MaxAge <= 0 {
					t.Errorf("%s has no explicit MaxAge", s.Name)
				}
			}
		})
	}
}

// TestLanes: a ticket's stored subjects name its partition, and its lane filters match
// them and no other partition's.
func TestLanes(t *testing.T) {
	t.Parallel()
	seen := map[int]int{}
	for i := range 1000 {
		ticket := fmt.Sprint(1000 + i)
		p := events.Partition(ticket)
		if p < 0 || p >= events.Partitions {
			t.Fatalf("Partition(%s) = %d", ticket, p)
		}
		seen[p]++
		op := events.Operation{Kind: events.OpITSM, Target: "snow", Ticket: ticket}
		if got, want := op.StoredSubject(), fmt.Sprintf("scw.op.itsm.snow.%d.%s", p, ticket); got != want {
			t.Fatalf("StoredSubject = %q, want %q", got, want)
		}
		trig := events.TriggerEvent{Event: events.Advance, Ticket: events.TicketInfo{ID: ticket}}
		if got, want := trig.StoredSubject(), fmt.Sprintf("scw.trigger.advance.%d.%s", p, ticket); got != want {
			t.Fatalf("trigger StoredSubject = %q, want %q", got, want)
		}
		for q := range events.Partitions {
			if got := subjectMatches(events.OpLane(events.OpITSM, "snow", q), op.StoredSubject()); got != (q == p) {
				t.Fatalf("OpLane(%d) matches %s: %v", q, op.StoredSubject(), got)
			}
			if got := subjectMatches(events.TriggerLane(q), trig.StoredSubject()); got != (q == p) {
				t.Fatalf("TriggerLane(%d) matches %s: %v", q, trig.StoredSubject(), got)
			}
		}
		if !subjectMatches(events.OpDestination(events.OpITSM, "snow"), op.StoredSubject()) {
			t.Fatalf("OpDestination does not match %s", op.StoredSubject())
		}
	}
	if len(seen) != events.Partitions {
		t.Fatalf("1000 tickets use %d of %d partitions", len(seen), events.Partitions)
	}
	for p, n := range seen {
		if n < 1000/events.Partitions/3 {
			t.Errorf("partition %d has %d of 1000 tickets: badly spread", p, n)
		}
	}
	if got := (events.Operation{Target: "my.server", Ticket: "12"}).Lane(); got != "my_server.12" {
		t.Errorf("Lane = %q", got)
	}
}

// subjectMatches is NATS subject matching (* one token, > the rest).
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}
