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

// goldenEvents are the wire shapes of TriggerEvent, one golden file each:
// testdata/<name>.golden.json. Adding a shape means adding a case here and
// running go test -run TestTriggerEventGolden -update.
var goldenEvents = []struct {
	name      string
	xml       string
	event     events.Trigger
	args      string
	script    string
	recovered bool
}{
	{
		name:   "trigger_event",
		xml:    realXML,
		event:  events.Advance,
		args:   "--mode strict",
		script: "/opt/trigger-service/test.py",
	},
	{
		name: "trigger_event_minimal",
		xml:  `<ticket_info><id>1</id></ticket_info>`,
		// No args, no script: the mediator was configured without them.
		event: events.Cancel,
	},
	{
		name: "trigger_event_extras",
		xml: "<ticket_info>\n  <id>77</id>\n  <subject>With extras &amp; CDATA</subject>\n" +
			"  <workflow id=\"12\"><name><![CDATA[AR <prod>]]></name></workflow>\n" +
			"  <priority/>\n  <current_stage><id>4</id><name>Implementation</name><handler>ops</handler></current_stage>\n</ticket_info>\n",
		event:  events.Create,
		args:   "servicenow",
		script: "/opt/trigger-service/itsm.py",
	},
	{
		name:   "trigger_event_non_epoch_dates",
		xml:    "<ticket_info><id>9</id><createDate>2024-03-01 10:00:00</createDate><updateDate>yesterday</updateDate><completion_data><stage><id>5</id><name>Done</name></stage></completion_data></ticket_info>",
		event:  events.Close,
		script: "/opt/x.py",
	},
	{
		name:      "trigger_event_recovered",
		xml:       "<ticket_info><id>31</id><current_stage><id>2</id><name>Review</name></current_stage></ticket_info>",
		event:     events.Reject,
		args:      `say "hi" C:\temp`,
		script:    "/opt/trigger-service/test.py",
		recovered: true,
	},
}

var receivedAt = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func TestTriggerEventGolden(t *testing.T) {
	t.Parallel()
	for _, g := range goldenEvents {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", g.name+".golden.json")

			info, err := events.DecodeTicketInfo([]byte(g.xml))
			if err != nil {
				t.Fatalf("DecodeTicketInfo: %v", err)
			}
			ev := events.NewTriggerEvent(g.event, info, []byte(g.xml), g.args, g.script)
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
			// XML -> event matches the golden file.
			if !bytes.Equal(got, golden) {
				t.Errorf("event from XML differs from %s:\n%s\nwant\n%s", path, got, golden)
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
	info, err := events.DecodeTicketInfo([]byte(realXML))
	if err != nil {
		t.Fatal(err)
	}
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
