package events_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/pkg/events"
)

var updateSpecs = flag.Bool("update-specs", false, "rewrite testdata/spec_*.golden.json")

// TestWireGolden pins the wire format of the operation payloads, a park record and a
// result: each encodes byte for byte as its golden file, and decodes back to itself.
// Changing a JSON name changes stored messages: it must show up here.
func TestWireGolden(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		file string
		v    any
		back func([]byte) (any, error)
	}{
		{"spec_itsm.golden.json", events.ITSMSpec{
			Server: "servicenow", Method: "POST", Path: "/api/now/table/change_request",
			Body: `{"short_description":"#ticket_subject#"}`, BodyName: "/etc/triggerflow/templates/snow-create.json",
			Headers:  map[string]string{"Accept": "application/json"},
			Response: events.ResponseSpec{Correlate: map[string]string{"sys_id": "#result.sys_id#"}, Fields: map[string]string{"ITSM Change": "#result.number#"}},
			Lookup: &events.LookupSpec{Path: "/api/now/table/change_request?sysparm_query=correlation_id=#trigger_id#", Found: "result.0.sys_id",
				Response: &events.ResponseSpec{Correlate: map[string]string{"sys_id": "#result.0.sys_id#"}}},
			Needs: []string{"correlation.sys_id"},
		}, func(b []byte) (any, error) { var v events.ITSMSpec; err := json.Unmarshal(b, &v); return v, err }},
		{"spec_securechange.golden.json", events.SecureChangeSpec{
			UpdateFields: map[string]string{"ITSM Change": "#correlation.number#"}, Redo: "Business Approval", Comment: "redo: #reject_reason#",
		}, func(b []byte) (any, error) {
			var v events.SecureChangeSpec
			err := json.Unmarshal(b, &v)
			return v, err
		}},
		{"spec_email.golden.json", events.EmailSpec{
			To: []string{"requester", "ops@example.com"}, Cc: []string{"handler"}, Subject: "Ticket #ticket_id# created",
			Text: "Ticket #ticket_id#: #ticket_subject#\n", TextName: "templates/created.txt", HTML: "<p>#ticket_subject#</p>\n", HTMLName: "templates/created.html",
		}, func(b []byte) (any, error) { var v events.EmailSpec; err := json.Unmarshal(b, &v); return v, err }},
		{"park.golden.json", events.Park{
			Head: "9f0c3d6e5b4a39281706f5e4d3c2b1a0", HeadRoute: "open-change", HeadAct: "create", Error: "POST /api/now/table/change_request: 400", Since: at, Parked: 2,
		}, func(b []byte) (any, error) { var v events.Park; err := json.Unmarshal(b, &v); return v, err }},
		{"redrive.golden.json", events.Redrive{
			DLQSeq: 42, Ticket: "1234", Service: "itsm-sync", Subject: "scw.op.itsm.servicenow.9.1234",
			MsgID: "redrive-42", Seq: 1017, At: at, By: "ops@host-1", Count: 1, Error: "POST /api/now/table/change_request: 400",
		}, func(b []byte) (any, error) { var v events.Redrive; err := json.Unmarshal(b, &v); return v, err }},
		{"result.golden.json", events.Result{
			OperationID: "9f0c3d6e5b4a39281706f5e4d3c2b1a0", TriggerID: "0123456789abcdef0123456789abcdef", Ticket: "1234", Event: events.Create,
			Kind: events.OpITSM, Target: "servicenow", Route: "open-change", Action: "create", Status: events.ResultFailed,
			Error: "gave up after 8 attempts", Parks: true,
			Attempts: []events.Attempt{
				{N: 1, At: at, Status: 503, Latency: 2 * time.Second, Error: "503", Transient: true, Outage: true},
				{N: 2, At: at.Add(time.Minute), Latency: 10 * time.Second, Error: "cut off", Transient: true, Unknown: true},
				{N: 3, At: at.Add(2 * time.Minute), Status: 404, Lookup: true},
			},
			FinishedAt: at.Add(3 * time.Minute), Instance: "itsm-sync-0",
		}, func(b []byte) (any, error) { return events.UnmarshalResult(b) }},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got, err := json.MarshalIndent(c.v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", c.file)
			if *updateSpecs {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("wire format changed:\n%s\nwant (%s):\n%s", got, path, want)
			}
			back, err := c.back(want)
			if err != nil || !reflect.DeepEqual(back, c.v) {
				t.Fatalf("round trip: %+v, %v", back, err)
			}
		})
	}
}

// TestOperationSpecs: an operation's spec decodes as its kind and only as its kind.
func TestOperationSpecs(t *testing.T) {
	t.Parallel()
	spec, err := events.EncodeSpec(events.ITSMSpec{Server: "snow", Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	op := events.Operation{ID: "op1", Kind: events.OpITSM, Spec: spec}
	if s, err := op.ITSM(); err != nil || s.Server != "snow" || s.Path != "/x" {
		t.Fatalf("ITSM() = %+v, %v", s, err)
	}
	if _, err := op.Email(); err == nil {
		t.Fatal("an itsm operation decoded as an email")
	}
	if _, err := (events.Operation{ID: "op2", Kind: events.OpEmail}).Email(); err == nil {
		t.Fatal("an operation without a spec decoded")
	}
	if _, err := (events.Operation{ID: "op3", Kind: events.OpSecureChange, Spec: json.RawMessage(`[1]`)}).SecureChange(); err == nil {
		t.Fatal("a spec that is not an object decoded")
	}
	if _, err := events.EncodeSpec(map[string]string{"server": "snow"}); err == nil {
		t.Fatal("EncodeSpec took a map")
	}
}
