package dispatcher_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestLenientTicketPlanned: a ticket with a comment whose "user" is an array
// (pytos2's Comment.users) and a field of a type no SDK models is planned
// normally, and a condition reads date and hyperlink fields from "value" and
// "url" (issue 11): before, the ticket was undecodable and the trigger
// dead-lettered.
func TestLenientTicketPlanned(t *testing.T) {
	s := natstest.RunJetStream(t)
	b, err := os.ReadFile(filepath.Join("testdata", "sc", "ticket_1234.json"))
	if err != nil {
		t.Fatal(err)
	}
	ticket := strings.Replace(string(b), `"user": "a.jones"}`, `"user": ["a.jones", "b.boss"]}`, 1)
	ticket = strings.Replace(ticket, `{"@xsi.type": "manager",`,
		`{"@xsi.type": "brand_new_type", "id": 399, "name": "Unknown", "widget": {"a": [1]}}, {"@xsi.type": "manager",`, 1)
	if ticket == string(b) {
		t.Fatal("fixture not modified")
	}
	sc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(ticket))
	}))
	t.Cleanup(sc.Close)
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		withSecureChangeB(t, c, sc.URL)
		c.SecureChange.Retries = ptr(0)
		c.Routes = []config.Route{{Name: "dated", On: config.RouteOn{Events: config.StringList{"ADVANCE"}},
			When:    `ticket.fields["Window Date"] == "2025-12-01" && ticket.fields["Change Record"] == "https://itsm.example.com/CHG0012345"`,
			Actions: []config.Action{itsmAction("call", false)}}}
	}))
	g.PublishTriggers(trigger(events.Advance, "1234", "Approval", "Risk Review"))
	g.WaitCount(events.StreamPlans, 1)
	plan, err := events.UnmarshalPlan(g.Msgs(events.StreamPlans, "")[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Enriched || strings.Join(plan.Routes, ",") != "dated" {
		t.Fatalf("plan: enriched %v routes %v (error %q)", plan.Enriched, plan.Routes, plan.Error)
	}
	g.WaitCount(events.StreamOps, 1)
	if n := len(g.Msgs(events.StreamDLQ, "")); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}
