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

// TestStreams: every stream has its default limits, a limit given by name replaces the
// default field by field, the older TriggerMaxAge still sets SCW_TRIGGERS' age (unless
// Limits does), and replicas and the dedup window apply to all.
func TestStreams(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	def := events.DefaultLimits()
	tests := []struct {
		name string
		opts events.StreamOptions
		// replicas and duplicates expected on every stream, and the limits that differ
		// from the defaults
		replicas int
		dupes    time.Duration
		changed  map[string]events.StreamLimits
	}{
		{name: "defaults", replicas: 1, dupes: 10 * time.Minute},
		{
			name:     "explicit",
			opts:     events.StreamOptions{Replicas: 3, TriggerMaxAge: 7 * day, Duplicates: time.Hour},
			replicas: 3, dupes: time.Hour,
			changed: map[string]events.StreamLimits{events.StreamTriggers: {MaxAge: 7 * day, MaxBytes: def[events.StreamTriggers].MaxBytes}},
		},
		{
			name: "limits by stream",
			opts: events.StreamOptions{TriggerMaxAge: 7 * day, Limits: map[string]events.StreamLimits{
				events.StreamTriggers: {MaxAge: 2 * day},
				events.StreamOps:      {MaxBytes: 5 << 20},
				"SCW_NOPE":            {MaxAge: day},
			}},
			replicas: 1, dupes: 10 * time.Minute,
			changed: map[string]events.StreamLimits{
				events.StreamTriggers: {MaxAge: 2 * day, MaxBytes: def[events.StreamTriggers].MaxBytes},
				events.StreamOps:      {MaxAge: def[events.StreamOps].MaxAge, MaxBytes: 5 << 20},
			},
		},
		{
			// Validation is the config's job: a short window is kept.
			name:     "short dedup window kept as given",
			opts:     events.StreamOptions{Duplicates: time.Minute},
			replicas: 1, dupes: time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := events.Streams(tt.opts)
			want := []struct {
				name     string
				subjects []string
			}{
				{events.StreamTriggers, []string{events.SubjTriggers}},
				{events.StreamOps, []string{events.SubjOps}},
				{events.StreamResults, []string{events.SubjResults, events.SubjLanes}}, // results and hold markers
				{events.StreamPlans, []string{events.SubjPlans}},
				{events.StreamDLQ, []string{events.SubjDLQ}},
				{events.StreamParked, []string{events.SubjParked}},
				{events.StreamAlerts, []string{events.SubjAlerts}},
				{events.StreamInbound, []string{events.SubjInbound}},
			}
			if len(got) != len(want) || len(events.StreamNames()) != len(want) || len(def) != len(want) {
				t.Fatalf("Streams() returned %d streams, StreamNames %d, DefaultLimits %d, want %d", len(got), len(events.StreamNames()), len(def), len(want))
			}
			for i, w := range want {
				s := got[i]
				if s.Name != w.name || !reflect.DeepEqual(s.Subjects, w.subjects) || events.StreamNames()[i] != w.name {
					t.Errorf("stream %d = %s %v, want %s %v", i, s.Name, s.Subjects, w.name, w.subjects)
				}
				if res := s.Name == events.StreamResults; s.Direct != res || s.Rollup != res {
					t.Errorf("%s: Direct %v Rollup %v, want %v (the done check's direct get; the hold markers' rollup)", s.Name, s.Direct, s.Rollup, res)
				}
				lim, ok := tt.changed[s.Name]
				if !ok {
					lim = def[s.Name]
				}
				if s.MaxAge != lim.MaxAge || s.MaxBytes != lim.MaxBytes || s.Duplicates != tt.dupes || s.Replicas != tt.replicas {
					t.Errorf("%s: MaxAge %v MaxBytes %d Duplicates %v Replicas %d, want %v %d %v %d",
						s.Name, s.MaxAge, s.MaxBytes, s.Duplicates, s.Replicas, lim.MaxAge, lim.MaxBytes, tt.dupes, tt.replicas)
				}
				if s.Description == "" {
					t.Errorf("%s has no description", s.Name)
				}
				if s.MaxAge <= 0 || s.MaxBytes <= 0 {
					t.Errorf("%s has no explicit MaxAge and MaxBytes", s.Name)
				}
			}
		})
	}
	if events.DoneTTL < def[events.StreamTriggers].MaxAge {
		t.Errorf("done markers (%s) expire before the triggers (%s) a replay reads", events.DoneTTL, def[events.StreamTriggers].MaxAge)
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

// The result filters are built like the subjects they match.
func TestResultFilters(t *testing.T) {
	op := events.Operation{ID: "op1", Kind: events.OpITSM, Ticket: "1234"}
	r := events.ResultFor(op, events.ResultSucceeded)
	if got := events.DoneSubjects(op); len(got) != 2 || got[0] != r.Subject() || got[1] != "scw.result.itsm.skipped.1234.op1" {
		t.Errorf("DoneSubjects = %q", got)
	}
	if got := events.ResultsOf(op); got != "scw.result.itsm.*.1234.op1" {
		t.Errorf("ResultsOf = %q", got)
	}
	if got := events.TicketResults("1234"); got != "scw.result.*.*.1234.*" {
		t.Errorf("TicketResults = %q", got)
	}
}
