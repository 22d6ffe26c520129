package events_test

import (
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// A callback's id is the same for the same callback id (whatever the body) or, without
// one, for the same body; the server is part of it. Its subject's key is the ticket,
// else the record as a token, else "none"; a record value that is not a token is encoded.
func TestInboundEvent(t *testing.T) {
	a := events.InboundID("snow", "evt-1", []byte(`{"a":1}`))
	if a != events.InboundID("snow", "evt-1", []byte(`{"a":2}`)) || a == events.InboundID("jira", "evt-1", []byte(`{"a":1}`)) ||
		!strings.HasPrefix(a, "snow-") || len(a) != len("snow-")+32 {
		t.Fatalf("id by callback id: %s", a)
	}
	b := events.InboundID("snow", "", []byte(`{"a":1}`))
	if b != events.InboundID("snow", "", []byte(`{"a":1}`)) || b == events.InboundID("snow", "", []byte(`{"a":2}`)) || b == a {
		t.Fatalf("id by body: %s", b)
	}
	for _, tc := range []struct {
		ev      events.InboundEvent
		subject string
	}{
		{events.InboundEvent{Server: "snow", Ticket: "1234", Record: &events.InboundRecord{Key: "sys_id", Value: "abc"}}, "scw.inbound.snow.1234"},
		{events.InboundEvent{Server: "snow", Record: &events.InboundRecord{Key: "sys_id", Value: "9d1e_A-0"}}, "scw.inbound.snow.rec-9d1e_A-0"},
		{events.InboundEvent{Server: "jira cloud", Record: &events.InboundRecord{Key: "key", Value: "NET 1.2"}}, "scw.inbound.jira_cloud.rec-b64-TkVUIDEuMg"},
		{events.InboundEvent{Server: "hook"}, "scw.inbound.hook.none"},
	} {
		if got := tc.ev.Subject(); got != tc.subject {
			t.Errorf("subject %q, want %q", got, tc.subject)
		}
		parts := strings.Split(tc.ev.StoredSubject(), ".")
		if len(parts) != 5 || parts[4] != tc.ev.Key() {
			t.Errorf("stored subject %q", tc.ev.StoredSubject())
		}
	}
	if k := events.RecordIndexKey("snow", "sys_id", "a b"); k != "record.snow.sys_id.b64-YSBi" {
		t.Errorf("record index key %q", k)
	}
	ev := events.InboundEvent{ID: a, Server: "snow", Body: []byte(`{"x":"<&>"}`)}
	raw, err := ev.Marshal()
	if err != nil || !strings.Contains(string(raw), `"body":{"x":"<&>"}`) {
		t.Fatalf("marshal: %s %v", raw, err)
	}
	back, err := events.UnmarshalInboundEvent(raw)
	if err != nil || back.ID != a || string(back.Body) != string(ev.Body) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := events.UnmarshalInboundEvent([]byte(`{"id":""}`)); err == nil {
		t.Fatal("a callback without id or server decoded")
	}
}
