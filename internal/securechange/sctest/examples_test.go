package sctest_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// events are SecureChange's trigger names (DESIGN.md §4); examples/tickets has one file each.
var events = []string{
	"CREATE", "ADVANCE", "CLOSE", "CANCEL", "REJECT", "REDO", "REOPEN", "RESOLVE", "RESUBMIT",
	"AUTOMATION_FAILED", "PRE_ASSIGNMENT_SCRIPT",
}

type exampleStage struct {
	ID   int    `xml:"id"`
	Name string `xml:"name"`
}

type exampleTicketInfo struct {
	XMLName     xml.Name      `xml:"ticket_info"`
	ID          int           `xml:"id"`
	Subject     string        `xml:"subject"`
	CreateDate  int64         `xml:"createDate"`
	UpdateDate  int64         `xml:"updateDate"`
	Current     *exampleStage `xml:"current_stage"`
	Completed   *exampleStage `xml:"completion_data>stage"`
	OpenRequest *exampleStage `xml:"open_request_stage"`
	Unknown     []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// workflowStages is the Access Request workflow of the examples.
var workflowStages = map[int]string{1: "Open request", 2: "Auto Target", 3: "Approval", 4: "Implementation", 5: "Verification"}

func TestExampleTickets(t *testing.T) {
	t.Parallel()
	ids := map[int]string{}
	unknown := 0
	for _, event := range events {
		name := strings.ToLower(event) + ".xml"
		var ti exampleTicketInfo
		if err := xml.Unmarshal(exampleTicket(t, name), &ti); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if other, dup := ids[ti.ID]; dup || ti.ID == 0 {
			t.Errorf("%s: ticket id %d (also in %s)", name, ti.ID, other)
		}
		ids[ti.ID] = name
		if ti.Subject == "" {
			t.Errorf("%s: no subject", name)
		}
		// Epoch milliseconds: 13 digits in this century.
		if ti.CreateDate < 1e12 || ti.CreateDate >= 1e13 || ti.UpdateDate < ti.CreateDate {
			t.Errorf("%s: createDate %d, updateDate %d", name, ti.CreateDate, ti.UpdateDate)
		}
		if ti.OpenRequest == nil || ti.OpenRequest.Name != "Open request" {
			t.Errorf("%s: open_request_stage = %+v", name, ti.OpenRequest)
		}
		if ti.Current == nil && ti.Completed == nil {
			t.Errorf("%s: neither current_stage nor completion_data", name)
		}
		for _, s := range []*exampleStage{ti.Current, ti.Completed, ti.OpenRequest} {
			if s != nil && workflowStages[s.ID] != s.Name {
				t.Errorf("%s: stage %+v is not a step of the Access Request workflow", name, s)
			}
		}
		unknown += len(ti.Unknown)
	}
	if unknown == 0 {
		t.Error("no example carries an element unknown to the decoders")
	}
	if got := strings.TrimSpace(string(exampleTicket(t, "test.xml"))); got != "<ticket_info/>" {
		t.Errorf("test.xml = %q, want <ticket_info/>", got)
	}
	files, _ := filepath.Glob(filepath.Join(thisDir(t), "..", "..", "..", "examples", "tickets", "*.xml"))
	if len(files) != len(events)+1 {
		t.Errorf("examples/tickets has %d files, want %d", len(files), len(events)+1)
	}
}

// TestExampleTicketsThroughBothMediators sends every example through the seed mediator and the
// triggerflow mediator and checks that the ingress would receive it unchanged.
func TestExampleTicketsThroughBothMediators(t *testing.T) {
	t.Parallel()
	for _, event := range append(events, "TEST") {
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			ticket := exampleTicket(t, strings.ToLower(event)+".xml")

			seed := newFakeIngress(t, seedUser, seedPassword, always(200, `{"output":"stored"}`))
			res, err := seedRunner(t, seed, "Mediator").Run(context.Background(), event, ticket)
			if err != nil || !res.OK() {
				t.Fatalf("seed mediator: %v %+v", err, res.Last())
			}
			p := decodeSeedPayload(t, seed.requests()[0].Body)
			if got, err := base64.StdEncoding.DecodeString(p.TicketInfo); err != nil || string(got) != string(ticket) || p.Event != event {
				t.Errorf("seed mediator sent event %q ticket %q (%v)", p.Event, got, err)
			}

			tf := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
			res, err = mediatorRunner(t, tf.URL, []string{"Mediator"}).Run(context.Background(), event, ticket)
			if err != nil || !res.OK() {
				t.Fatalf("triggerflow mediator: %v %+v", err, res.Last())
			}
			req := tf.requests()[0]
			if req.Path != "/v1/triggers/"+event || string(req.Body) != string(ticket) {
				t.Errorf("triggerflow mediator sent %s %q", req.Path, req.Body)
			}
		})
	}
}

// TestExampleTicketsAreUTF8Files guards against an editor adding a BOM or CRLF line ends.
func TestExampleTicketsAreUTF8Files(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(thisDir(t), "..", "..", "..", "examples", "tickets", "*.xml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(b), "\ufeff") || strings.Contains(string(b), "\r") || !strings.HasSuffix(string(b), ">\n") {
			t.Errorf("%s: BOM, CR or no final newline", filepath.Base(f))
		}
	}
}
