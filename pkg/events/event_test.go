package events_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/pkg/events"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// realXML is the ticket_info of an ADVANCE trigger as SecureChange
// sends it.
const realXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ticket_info>
    <id>1234</id>
    <subject>Allow web to db</subject>
    <createDate>1700000000000</createDate>
    <updateDate>1700000360000</updateDate>
    <current_stage><id>3</id><name>Approval</name></current_stage>
    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
    <completion_data><stage><id>2</id><name>Auto Target</name></stage></completion_data>
</ticket_info>
`

// goldenEvents are the wire shapes of TriggerEvent, one golden file each:
// testdata/<name>.golden.json. Adding a shape means adding a case here and
// running go test -run TestTriggerEventGolden -update. info is what the
// ingress decodes from xml (internal/securechange's TestDecodeTicketInfoGolden
// checks it against the golden files).
var goldenEvents = []struct {
	name      string
	xml       string
	info      events.TicketInfo
	event     events.Trigger
	args      string
	script    string
	recovered bool
}{
	{
		name: "trigger_event",
		xml:  realXML,
		info: events.TicketInfo{
			ID: "1234", Subject: "Allow web to db",
			CreateDate: "1700000000000", CreatedAt: at(1700000000000),
			UpdateDate: "1700000360000", UpdatedAt: at(1700000360000),
			CurrentStage:     &events.Stage{ID: "3", Name: "Approval"},
			CompletionStage:  &events.Stage{ID: "2", Name: "Auto Target"},
			OpenRequestStage: &events.Stage{ID: "1", Name: "Open request"},
		},
		event:  events.Advance,
		args:   "--mode strict",
		script: "/opt/trigger-service/test.py",
	},
	{
		name: "trigger_event_minimal",
		xml:  `<ticket_info><id>1</id></ticket_info>`,
		info: events.TicketInfo{ID: "1"},
		// No args, no script: the mediator was configured without them.
		event: events.Cancel,
	},
	{
		name: "trigger_event_extras",
		xml: "<ticket_info>\n  <id>77</id>\n  <subject>With extras &amp; CDATA</subject>\n" +
			"  <workflow id=\"12\"><name><![CDATA[AR <prod>]]></name></workflow>\n" +
			"  <priority/>\n  <current_stage><id>4</id><name>Implementation</name><handler>ops</handler></current_stage>\n</ticket_info>\n",
		info: events.TicketInfo{ID: "77", Subject: "With extras & CDATA", CurrentStage: &events.Stage{ID: "4", Name: "Implementation"},
			Extra: []events.RawElement{
				{Name: "workflow", XML: `<workflow id="12"><name><![CDATA[AR <prod>]]></name></workflow>`},
				{Name: "priority", XML: "<priority/>"},
			}},
		event:  events.Create,
		args:   "servicenow",
		script: "/opt/trigger-service/itsm.py",
	},
	{
		name:   "trigger_event_non_epoch_dates",
		xml:    "<ticket_info><id>9</id><createDate>2024-03-01 10:00:00</createDate><updateDate>yesterday</updateDate><completion_data><stage><id>5</id><name>Done</name></stage></completion_data></ticket_info>",
		info:   events.TicketInfo{ID: "9", CreateDate: "2024-03-01 10:00:00", UpdateDate: "yesterday", CompletionStage: &events.Stage{ID: "5", Name: "Done"}},
		event:  events.Close,
		script: "/opt/x.py",
	},
	{
		name:      "trigger_event_recovered",
		xml:       "<ticket_info><id>31</id><current_stage><id>2</id><name>Review</name></current_stage></ticket_info>",
		info:      events.TicketInfo{ID: "31", CurrentStage: &events.Stage{ID: "2", Name: "Review"}},
		event:     events.Reject,
		args:      `say "hi" C:\temp`,
		script:    "/opt/trigger-service/test.py",
		recovered: true,
	},
}

var receivedAt = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func at(ms int64) *time.Time {
	t := time.UnixMilli(ms).UTC()
	return &t
}

func TestTriggerEventGolden(t *testing.T) {
	t.Parallel()
	for _, g := range goldenEvents {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", g.name+".golden.json")

			ev := events.NewTriggerEvent(g.event, g.info, []byte(g.xml), g.args, g.script)
			ev.ReceivedAt = receivedAt
			ev.Ingress = "ingress-0"
			ev.Recovered = g.recovered
			got, err := ev.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got = indent(t, got)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestTriggerEventGolden -update to create it)", err)
			}
			// The event matches the golden file.
			if !bytes.Equal(got, golden) {
				t.Errorf("event differs from %s:\n%s\nwant\n%s", path, got, golden)
			}

			// Golden -> event -> golden is lossless.
			back, err := events.UnmarshalTriggerEvent(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, ev) {
				t.Errorf("UnmarshalTriggerEvent(%s) =\n%+v\nwant\n%+v", path, back, ev)
			}
			again, err := back.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if again = indent(t, again); !bytes.Equal(again, golden) {
				t.Errorf("round trip of %s differs:\n%s", path, again)
			}
			if back.RawXML != g.xml {
				t.Errorf("raw_xml not kept exactly")
			}
		})
	}
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("json.Indent: %v\n%s", err, b)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func TestTriggerEventSubjectAndHeaders(t *testing.T) {
	t.Parallel()
	info := goldenEvents[0].info
	for _, tr := range append(events.Triggers(), events.Test) {
		ev := events.NewTriggerEvent(tr, info, []byte(realXML), "a b", "/s.py")
		want := fmt.Sprintf(events.SubjTriggerT, tr.Token(), "1234")
		if got := ev.Subject(); got != want {
			t.Errorf("%s: Subject() = %q, want %q", tr, got, want)
		}
		if ev.ID != events.TriggerID(tr, info, "a b") {
			t.Errorf("%s: ID = %q, want TriggerID", tr, ev.ID)
		}
		wantHdr := map[string]string{
			events.HdrTriggerID:     ev.ID,
			events.HdrCausationID:   ev.ID,
			events.HdrCorrelationID: ev.ID,
			events.HdrTicketID:      "1234",
			events.HdrEvent:         string(tr),
		}
		if got := ev.Headers(); !reflect.DeepEqual(got, wantHdr) {
			t.Errorf("%s: Headers() = %v, want %v", tr, got, wantHdr)
		}
	}
	ev := events.NewTriggerEvent(events.AutomationFailed, info, nil, "", "")
	if got, want := ev.Subject(), "scw.trigger.automation_failed.1234"; got != want {
		t.Errorf("Subject() = %q, want %q", got, want)
	}
}

func TestUnmarshalTriggerEventErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `[]`, `{"id": 5}`, `{"received_at": "yesterday"}`, `{`} {
		if _, err := events.UnmarshalTriggerEvent([]byte(in)); err == nil {
			t.Errorf("UnmarshalTriggerEvent(%q) succeeded", in)
		}
	}
}
