package events_test

import (
	"regexp"
	"testing"

	"github.com/triggerflow/triggerflow/pkg/events"
)

func TestTriggerID(t *testing.T) {
	t.Parallel()
	base := func() events.TicketInfo {
		return events.TicketInfo{
			ID:               "1234",
			Subject:          "Allow web to db",
			CreateDate:       "1700000000000",
			UpdateDate:       "1700000360000",
			CurrentStage:     &events.Stage{ID: "3", Name: "Approval"},
			CompletionStage:  &events.Stage{ID: "2", Name: "Auto Target"},
			OpenRequestStage: &events.Stage{ID: "1", Name: "Open request"},
		}
	}
	const args = "--mode strict"
	id := events.TriggerID(events.Advance, base(), args)

	// Pinned: a change here changes every Nats-Msg-Id, and needs a new
	// version tag in id.go. (Computed independently: sha256 over
	// "\x0atrigger/v1\x07ADVANCE\x041234..." in Python.)
	const golden = "2a5dd043a76fae94f6456a7320f7a44f"
	if id != golden {
		t.Errorf("TriggerID() = %s, want pinned %s", id, golden)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("TriggerID() = %q, want 32 lower-case hex characters", id)
	}
	if again := events.TriggerID(events.Advance, base(), args); again != id {
		t.Errorf("TriggerID() not deterministic: %s then %s", id, again)
	}

	// Fields that are not part of the identity.
	same := base()
	same.Subject = "renamed"
	same.CreateDate = "1"
	same.Extra = []events.RawElement{{Name: "x", XML: "<x/>"}}
	if got := events.TriggerID(events.Advance, same, args); got != id {
		t.Errorf("subject, createDate and extras changed the id: %s != %s", got, id)
	}

	changes := []struct {
		name   string
		event  events.Trigger
		change func(*events.TicketInfo)
		args   string
	}{
		{name: "event", event: events.Close},
		{name: "ticket id", change: func(i *events.TicketInfo) { i.ID = "1235" }},
		{name: "update date", change: func(i *events.TicketInfo) { i.UpdateDate = "1700000360001" }},
		{name: "current stage id", change: func(i *events.TicketInfo) { i.CurrentStage.ID = "4" }},
		{name: "current stage name", change: func(i *events.TicketInfo) { i.CurrentStage.Name = "Approval2" }},
		{name: "no current stage", change: func(i *events.TicketInfo) { i.CurrentStage = nil }},
		{name: "completion stage id", change: func(i *events.TicketInfo) { i.CompletionStage.ID = "5" }},
		{name: "completion stage name", change: func(i *events.TicketInfo) { i.CompletionStage.Name = "x" }},
		{name: "open request stage id", change: func(i *events.TicketInfo) { i.OpenRequestStage.ID = "9" }},
		{name: "open request stage name", change: func(i *events.TicketInfo) { i.OpenRequestStage.Name = "y" }},
		{name: "args", args: "--mode lax"},
		{name: "no args", args: "-"},
		// Length prefixes keep field boundaries: moving text from one field
		// to the next is a different trigger.
		{name: "boundary between stage id and name", change: func(i *events.TicketInfo) {
			i.CurrentStage = &events.Stage{ID: "3A", Name: "pproval"}
		}},
		{name: "stage moved to another slot", change: func(i *events.TicketInfo) {
			i.CurrentStage, i.OpenRequestStage = i.OpenRequestStage, i.CurrentStage
		}},
	}
	seen := map[string]string{id: "base"}
	for _, c := range changes {
		info := base()
		if c.change != nil {
			c.change(&info)
		}
		event := events.Advance
		if c.event != "" {
			event = c.event
		}
		a := args
		switch c.args {
		case "":
		case "-":
			a = ""
		default:
			a = c.args
		}
		got := events.TriggerID(event, info, a)
		if prev, dup := seen[got]; dup {
			t.Errorf("changing %s gives the same id as %s: %s", c.name, prev, got)
		}
		seen[got] = c.name
	}

	// A nil stage and an empty one are the same trigger.
	empty := base()
	empty.CurrentStage = &events.Stage{}
	none := base()
	none.CurrentStage = nil
	if events.TriggerID(events.Advance, empty, args) != events.TriggerID(events.Advance, none, args) {
		t.Error("nil and empty current stage give different ids")
	}
}

func BenchmarkTriggerID(b *testing.B) {
	info := goldenEvents[0].info
	b.ReportAllocs()
	for b.Loop() {
		events.TriggerID(events.Advance, info, "a b c")
	}
}
