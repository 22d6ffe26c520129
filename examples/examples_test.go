package examples_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/pkg/events"
)

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
	triggers := events.Triggers() // SecureChange's trigger names (DESIGN.md §4): one file each
	for _, trig := range triggers {
		name := trig.Token() + ".xml"
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
	files, _ := filepath.Glob(filepath.Join("tickets", "*.xml"))
	if len(files) != len(triggers)+1 {
		t.Errorf("examples/tickets has %d files, want %d", len(files), len(triggers)+1)
	}
}

// TestExampleTicketsAreUTF8Files guards against an editor adding a BOM or CRLF line ends.
func TestExampleTicketsAreUTF8Files(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("tickets", "*.xml"))
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

// exampleTicket reads tickets/name.
func exampleTicket(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("tickets", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
