package events

import (
	"errors"
	"fmt"
	"strings"
)

// Trigger is a SecureChange workflow trigger as the mediator passes it in
// SCW_EVENT (and the ingress in the "event" field), spelled exactly as
// SecureChange spells it.
type Trigger string

// The triggers SecureChange runs scripts for. Test is what the "Test" button
// of Settings > SecureChange API sends: it is answered but never published.
const (
	Create              Trigger = "CREATE"
	Advance             Trigger = "ADVANCE"
	Close               Trigger = "CLOSE"
	Cancel              Trigger = "CANCEL"
	Reject              Trigger = "REJECT"
	Redo                Trigger = "REDO"
	Reopen              Trigger = "REOPEN"
	Resolve             Trigger = "RESOLVE"
	Resubmit            Trigger = "RESUBMIT"
	AutomationFailed    Trigger = "AUTOMATION_FAILED"
	PreAssignmentScript Trigger = "PRE_ASSIGNMENT_SCRIPT"
	Test                Trigger = "TEST"
)

// ErrUnknownTrigger is wrapped by the error ParseTrigger returns for a name
// that is not a trigger.
var ErrUnknownTrigger = errors.New("unknown trigger")

// published lists every trigger that is published, in a stable order.
var published = [...]Trigger{
	Create, Advance, Close, Cancel, Reject, Redo, Reopen, Resolve, Resubmit,
	AutomationFailed, PreAssignmentScript,
}

// validNames is the list of names ParseTrigger accepts, for error messages.
var validNames = func() string {
	names := make([]string, 0, len(published)+1)
	for _, t := range published {
		names = append(names, string(t))
	}
	return strings.Join(append(names, string(Test)), ", ")
}()

// Triggers returns every published trigger (all but Test) in a stable order.
// The slice is a fresh copy the caller may modify.
func Triggers() []Trigger {
	out := make([]Trigger, len(published))
	copy(out, published[:])
	return out
}

// maxQuoted bounds how much of an unknown value an error message repeats.
const maxQuoted = 64

// ParseTrigger returns the trigger named s, which must be spelled exactly as
// SecureChange sets SCW_EVENT (Test included). For any other value it returns
// an error wrapping ErrUnknownTrigger that quotes the value (at most 64 bytes
// of it) and lists the valid names, or suggests the right spelling when only
// the letter case differs.
func ParseTrigger(s string) (Trigger, error) {
	if t := Trigger(s); t == Test || t.Published() {
		return t, nil
	}
	quoted := quote(s)
	for _, t := range append(published[:len(published):len(published)], Test) {
		if strings.EqualFold(s, string(t)) {
			return "", fmt.Errorf("%w %s: did you mean %q?", ErrUnknownTrigger, quoted, string(t))
		}
	}
	return "", fmt.Errorf("%w %s: want one of %s", ErrUnknownTrigger, quoted, validNames)
}

// quote returns s quoted with %q, cut to maxQuoted bytes first.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:maxQuoted], len(s))
}

// Published reports whether events of this trigger are stored in the
// SCW_TRIGGERS stream: true for every known trigger except Test.
func (t Trigger) Published() bool {
	switch t {
	case Create, Advance, Close, Cancel, Reject, Redo, Reopen, Resolve, Resubmit,
		AutomationFailed, PreAssignmentScript:
		return true
	}
	return false
}

// Token returns the trigger as a lower-case subject token, for example
// "automation_failed" for AutomationFailed.
func (t Trigger) Token() string {
	switch t {
	case Create:
		return "create"
	case Advance:
		return "advance"
	case Close:
		return "close"
	case Cancel:
		return "cancel"
	case Reject:
		return "reject"
	case Redo:
		return "redo"
	case Reopen:
		return "reopen"
	case Resolve:
		return "resolve"
	case Resubmit:
		return "resubmit"
	case AutomationFailed:
		return "automation_failed"
	case PreAssignmentScript:
		return "pre_assignment_script"
	case Test:
		return "test"
	}
	return strings.ToLower(string(t))
}
