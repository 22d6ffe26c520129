package wfi_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// fixedNow is Data.Now in every test.
var fixedNow = time.Date(2025, 11, 23, 11, 5, 0, 0, time.UTC)

// fixtureEvents maps testdata/fixtures/<dir> to the trigger it holds.
var fixtureEvents = map[string]events.Trigger{
	"create":  events.Create,
	"advance": events.Advance,
	"reject":  events.Reject,
	"close":   events.Close,
}

// fixtureTriggerIDs are the fixtures' trigger ids (events.TriggerID in
// form, fixed here).
var fixtureTriggerIDs = map[string]string{
	"create":  "4561f91f9fe85bf09c646cbd20bccd9d",
	"advance": "9940faede097d944b57c88d26e42313a",
	"reject":  "0c5e2b7d9a1f4e3c8b6d2a9f7e1c5b3a",
	"close":   "7a3d9e1b5c2f8a4d6e0b3c9f1a7d5e2b",
}

// fixtureCustom are the custom placeholders of the fixtures (the Jira
// template needs them).
var fixtureCustom = map[string]string{
	"jira_service_desk": "4",
	"jira_request_type": "52",
	"jira_summary":      "SC-#ticket_id#: #ticket_subject#",
	"sc_ticket_url":     "https://securechange.example.com/securechangeworkflow/pages/myRequest/myRequestsMain.seam?ticketId=#ticket_id#",
}

// fixtureOp builds the operation the dispatcher would publish for
// testdata/fixtures/<dir>: its trigger from trigger.xml, and, when enriched,
// the ticket from ticket.json.
func fixtureOp(t testing.TB, dir string, enriched bool) events.Operation {
	t.Helper()
	ev, ok := fixtureEvents[dir]
	if !ok {
		t.Fatalf("no fixture %q", dir)
	}
	xmlBytes, err := os.ReadFile(filepath.Join("testdata", "fixtures", dir, "trigger.xml"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := securechange.DecodeTicketInfo(xmlBytes)
	if err != nil {
		t.Fatalf("%s/trigger.xml: %v", dir, err)
	}
	trig := events.NewTriggerEvent(ev, info, xmlBytes, "--route itsm", "/opt/triggerflow/mediator.sh")
	// A fixed id: the golden files must not change with the id derivation.
	trig.ID = fixtureTriggerIDs[dir]
	ctx := &events.OpContext{Trigger: trig}
	if enriched {
		ctx.Ticket, err = os.ReadFile(filepath.Join("testdata", "fixtures", dir, "ticket.json"))
		if err != nil {
			t.Fatal(err)
		}
	}
	return events.Operation{
		ID:        events.OperationID(trig.ID, "open-change", "snow"),
		Kind:      events.OpITSM,
		Target:    "servicenow",
		Route:     "open-change",
		Action:    "snow",
		TriggerID: trig.ID,
		Ticket:    info.ID,
		Event:     ev,
		Context:   ctx,
	}
}

// fixture returns the Data of a fixture with the custom placeholders and a
// stored correlation.
func fixture(t testing.TB, dir string, enriched bool) *wfi.Data {
	t.Helper()
	d, err := wfi.NewData(fixtureOp(t, dir, enriched), fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	d.Custom = fixtureCustom
	d.Correlation = map[string]string{"sys_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "number": "CHG0030042"}
	return d
}

// ticketData is a Data whose ticket is the given JSON.
func ticketData(t testing.TB, ticketJSON string) *wfi.Data {
	t.Helper()
	tk, err := securechange.DecodeTicket([]byte(ticketJSON))
	if err != nil {
		t.Fatal(err)
	}
	return &wfi.Data{Ticket: &tk, Now: fixedNow}
}

// render renders text with d or fails the test.
func render(t testing.TB, text string, d *wfi.Data, esc wfi.Escape) string {
	t.Helper()
	out, err := wfi.Render("test", text, d, esc)
	if err != nil {
		t.Fatalf("render %q: %v", text, err)
	}
	return string(out)
}

// renderErr renders text with d and returns the error, failing the test if
// there is none.
func renderErr(t testing.TB, name, text string, d *wfi.Data, esc wfi.Escape) error {
	t.Helper()
	out, err := wfi.Render(name, text, d, esc)
	if err == nil {
		t.Fatalf("render %q: want an error, got %q", text, out)
	}
	if !errors.Is(err, wfi.ErrTemplate) {
		t.Errorf("render %q: error %v does not wrap ErrTemplate", text, err)
	}
	return err
}

// jsonContent is s as encoding/json writes it inside a string, without
// HTML escaping and without the quotes.
func jsonContent(t testing.TB, s string) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}
