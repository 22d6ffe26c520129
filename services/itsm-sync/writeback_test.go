package itsmsync_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// The create's response maps the CHG number into the SecureChange field "ITSM Change":
// a write-back operation of its own, performed over SecureChange's REST API.
func TestResponseWrittenBackToSecureChange(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	sc := securechangetest.New(t)
	sc.Put(securechangetest.Fixture("1500"))
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), func(c *config.Config) {
		withSnow(sn, nil)(c)
		c.SecureChange = sc.Config()
	}))
	spec := createSpec()
	spec.Response.Fields = map[string]string{"ITSM Change": "#result.number#"}
	create := op(events.OpITSM, "snow", "1500", events.Create, "open-change", "create", spec)
	g.PublishOps(nil, "", create)

	wb := g.WaitResults("scw.result.securechange.>", 1)[0]
	if wb.Status != events.ResultSucceeded || wb.Action != "create.writeback" {
		t.Fatalf("write-back result = %+v", wb)
	}
	created := g.WaitResults("scw.result.itsm.>", 1)[0]
	ticket := sc.Ticket("1500")
	v, _ := ticket.Value("ITSM Change")
	if v != created.Correlation["number"] || !strings.HasPrefix(v, "CHG") {
		t.Fatalf("ITSM Change = %q, want %q", v, created.Correlation["number"])
	}
}

// Each SecureChange write-back action against the simulator: update fields (with
// placeholders), approve, advance, redo, reject the ticket; a write-back to a field that
// does not exist fails permanently, naming it.
func TestSecureChangeWriteBacks(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sc := securechangetest.New(t)
	for _, id := range []string{"1601", "1602", "1603", "1604", "1605", "1606"} {
		sc.Put(securechangetest.Fixture(id))
	}
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), func(c *config.Config) { c.SecureChange = sc.Config() }))
	ops := []events.Operation{
		op(events.OpSecureChange, "securechange", "1601", events.Advance, "r", "fields", events.SecureChangeSpec{UpdateFields: map[string]string{"ITSM Change": "from #ticket_requester#", "Risk": "High"}}),
		op(events.OpSecureChange, "securechange", "1602", events.Advance, "r", "approve", events.SecureChangeSpec{Approve: "approved by the CAB for #ticket_id#"}),
		op(events.OpSecureChange, "securechange", "1603", events.Advance, "r", "advance", events.SecureChangeSpec{Advance: true}),
		op(events.OpSecureChange, "securechange", "1604", events.Advance, "r", "redo", events.SecureChangeSpec{Redo: "Submit Request", Comment: "please add a justification"}),
		op(events.OpSecureChange, "securechange", "1605", events.Advance, "r", "reject", events.SecureChangeSpec{RejectTicket: "rejected in ServiceNow"}),
		op(events.OpSecureChange, "securechange", "1606", events.Advance, "r", "nofield", events.SecureChangeSpec{UpdateFields: map[string]string{"No Such Field": "x"}}),
	}
	g.PublishOps(nil, "", ops...)
	rs := g.WaitResults("scw.result.securechange.>", len(ops))
	byTicket := map[string]events.Result{}
	for _, r := range rs {
		byTicket[r.Ticket] = r
	}
	for _, id := range []string{"1601", "1602", "1603", "1604", "1605"} {
		if byTicket[id].Status != events.ResultSucceeded {
			t.Errorf("ticket %s: %+v", id, byTicket[id])
		}
	}
	if r := byTicket["1606"]; r.Status != events.ResultFailed || !strings.Contains(r.Error, "No Such Field") {
		t.Errorf("unknown field: %+v", r)
	}
	if v, _ := sc.Ticket("1601").Value("ITSM Change"); v != "from a.smith" && !strings.HasPrefix(v, "from ") {
		t.Errorf("ITSM Change = %q", v)
	}
	if v, _ := sc.Ticket("1601").Value("Risk"); v != "High" {
		t.Errorf("Risk = %q", v)
	}
	if f, _ := sc.Ticket("1602").Field("Approve Access"); f.Approved == nil || !*f.Approved || !strings.Contains(f.Reason, "1602") {
		t.Errorf("approve_reject = %+v", f)
	}
	if st := sc.Ticket("1603").CurrentStep; st == nil || st.Name == "Business Approval" {
		t.Errorf("advance: current step %+v", st)
	}
	if st := sc.Ticket("1604").CurrentStep; st == nil || st.Name != "Submit Request" {
		t.Errorf("redo: current step %+v", st)
	}
	if tk := sc.Ticket("1605"); tk.CurrentStep != nil || tk.Status != securechangetest.StatusRejected {
		t.Errorf("reject: %+v", tk)
	}
	var puts int
	for _, r := range sc.Requests() {
		if r.Method == http.MethodPut {
			puts++
		}
	}
	if puts != 5 {
		t.Errorf("%d PUTs to SecureChange, want 5", puts)
	}
	if strings.Contains(g.Logs.String(), "operation succeeded") {
		t.Errorf("a line per operation at info:\n%s", g.Logs.String())
	}
}
