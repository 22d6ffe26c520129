package events_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/pkg/events"
)

func TestTriggers(t *testing.T) {
	t.Parallel()
	want := []events.Trigger{
		events.Create, events.Advance, events.Close, events.Cancel, events.Reject,
		events.Redo, events.Reopen, events.Resolve, events.Resubmit,
		events.AutomationFailed, events.PreAssignmentScript,
	}
	got := events.Triggers()
	if !slices.Equal(got, want) {
		t.Fatalf("Triggers() = %v, want %v", got, want)
	}
	got[0] = "MUTATED"
	if events.Triggers()[0] != events.Create {
		t.Fatal("Triggers() returned shared storage")
	}
	for _, tr := range want {
		if !tr.Published() {
			t.Errorf("%s.Published() = false", tr)
		}
		if p, err := events.ParseTrigger(string(tr)); err != nil || p != tr {
			t.Errorf("ParseTrigger(%q) = %q, %v", tr, p, err)
		}
	}
	if events.Test.Published() {
		t.Error("TEST.Published() = true")
	}
	if events.Trigger("NOPE").Published() {
		t.Error(`Trigger("NOPE").Published() = true`)
	}
}

func TestTriggerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		trigger events.Trigger
		want    string
	}{
		{events.Create, "create"},
		{events.Advance, "advance"},
		{events.Close, "close"},
		{events.Cancel, "cancel"},
		{events.Reject, "reject"},
		{events.Redo, "redo"},
		{events.Reopen, "reopen"},
		{events.Resolve, "resolve"},
		{events.Resubmit, "resubmit"},
		{events.AutomationFailed, "automation_failed"},
		{events.PreAssignmentScript, "pre_assignment_script"},
		{events.Test, "test"},
		{events.Trigger("SOMETHING_NEW"), "something_new"},
	}
	for _, tt := range tests {
		if got := tt.trigger.Token(); got != tt.want {
			t.Errorf("%s.Token() = %q, want %q", tt.trigger, got, tt.want)
		}
	}
}

func TestParseTrigger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    events.Trigger
		wantErr string // exact message; empty for success
	}{
		{name: "advance", in: "ADVANCE", want: events.Advance},
		{name: "test", in: "TEST", want: events.Test},
		{name: "automation failed", in: "AUTOMATION_FAILED", want: events.AutomationFailed},
		{name: "pre assignment", in: "PRE_ASSIGNMENT_SCRIPT", want: events.PreAssignmentScript},
		{
			name:    "lower case",
			in:      "create",
			wantErr: `unknown trigger "create": did you mean "CREATE"?`,
		},
		{
			name:    "mixed case test",
			in:      "Test",
			wantErr: `unknown trigger "Test": did you mean "TEST"?`,
		},
		{
			name:    "unknown",
			in:      "ADVANCED",
			wantErr: `unknown trigger "ADVANCED": want one of CREATE, ADVANCE, CLOSE, CANCEL, REJECT, REDO, REOPEN, RESOLVE, RESUBMIT, AUTOMATION_FAILED, PRE_ASSIGNMENT_SCRIPT, TEST`,
		},
		{
			name:    "empty",
			in:      "",
			wantErr: `unknown trigger "": want one of CREATE, ADVANCE, CLOSE, CANCEL, REJECT, REDO, REOPEN, RESOLVE, RESUBMIT, AUTOMATION_FAILED, PRE_ASSIGNMENT_SCRIPT, TEST`,
		},
		{
			name:    "surrounding space is not trimmed",
			in:      " CLOSE",
			wantErr: `unknown trigger " CLOSE": want one of`,
		},
		{
			name:    "control characters are quoted",
			in:      "CLOSE\n\x00",
			wantErr: `unknown trigger "CLOSE\n\x00": want one of`,
		},
		{
			name:    "long value is truncated",
			in:      strings.Repeat("A", 100),
			wantErr: `unknown trigger "` + strings.Repeat("A", 64) + `"... (100 bytes): want one of`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := events.ParseTrigger(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseTrigger(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, events.ErrUnknownTrigger) {
				t.Fatalf("ParseTrigger(%q) error = %v, want ErrUnknownTrigger", tt.in, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("ParseTrigger(%q) error =\n%s\nwant prefix\n%s", tt.in, err, tt.wantErr)
			}
			if got != "" {
				t.Fatalf("ParseTrigger(%q) = %q with an error", tt.in, got)
			}
		})
	}
}
