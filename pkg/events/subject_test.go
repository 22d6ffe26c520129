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
		{events.SubjResults, events.SubjResultT, []any{"itsm", "failed", "1234"}, "scw.result.itsm.failed.1234"},
		{events.SubjDLQ, events.SubjDLQT, []any{"dispatcher", "1234"}, "scw.dlq.dispatcher.1234"},
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
