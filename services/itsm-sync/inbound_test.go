package itsmsync_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/correlation"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// inboundOp is an operation of an inbound route, as the dispatcher plans it from the
// servicenow callback body.
func inboundOp(ticket, route, action, body string, spec any) events.Operation {
	cb := events.InboundEvent{Server: "snow", Ticket: ticket, Body: json.RawMessage(body), ReceivedAt: time.Now().UTC(), Ingress: "test"}
	if sys := gjsonString(body, "sys_id"); sys != "" {
		cb.Record = &events.InboundRecord{Key: "sys_id", Value: sys}
	}
	cb.ID = events.InboundID("snow", "", cb.Body)
	b, _ := json.Marshal(spec)
	return events.Operation{
		ID: events.OperationID(cb.ID, route, action), Kind: events.OpSecureChange, Target: "securechange", Route: route,
		Action: action, TriggerID: cb.ID, Ticket: ticket, Event: events.InboundEventName, Spec: b,
		Context: &events.OpContext{Trigger: events.TriggerEvent{ID: cb.ID, Event: events.InboundEventName, Ticket: events.TicketInfo{ID: ticket}}, Callback: &cb},
	}
}

func gjsonString(body, key string) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	s, _ := m[key].(string)
	return s
}

func puts(sc *securechangetest.Server, ticket string) int {
	n := 0
	for _, r := range sc.Requests() {
		if r.Method != http.MethodGet && strings.Contains(r.Path, "/tickets/"+ticket+"/") {
			n++
		}
	}
	return n
}

// The ServiceNow callbacks against the SecureChange simulator: "change approved" sets
// the step's approve_reject field with the callback's comments and advances the task;
// "change rejected" rejects with the reason; "change implemented" updates a field and
// completes the task; an approval of a step the ticket has left is refused: skipped,
// "Ticket is no longer at the expected step" in its result, nothing written.
func TestInboundWriteBacks(t *testing.T) {
	sc := securechangetest.New(t)
	for _, id := range []string{"2001", "2002", "2003", "2004"} {
		sc.Put(securechangetest.Fixture(id))
	}
	g := testrig.Start(t, "itsm-sync", testConfig("", func(c *config.Config) { c.SecureChange = sc.Config() }))
	approved := `{"approval":"approved","comments":"CAB approved on 2026-12-01","u_sc_step":"Business Approval"}`
	rejected := `{"approval":"rejected","comments":"too broad: narrow the source"}`
	implemented := `{"state":"3","close_notes":"implemented in the window"}`
	stale := `{"approval":"approved","comments":"late","u_sc_step":"Submit Request"}`
	g.PublishOps(nil, "",
		inboundOp("2001", "approved", "approve", approved, events.SecureChangeSpec{Approve: "#callback.comments#", Step: "#callback.u_sc_step#"}),
		inboundOp("2001", "approved", "advance", approved, events.SecureChangeSpec{Advance: true, Step: "#callback.u_sc_step#"}),
		inboundOp("2002", "rejected", "reject", rejected, events.SecureChangeSpec{Reject: "#callback.comments#"}),
		inboundOp("2003", "implemented", "notes", implemented, events.SecureChangeSpec{UpdateFields: map[string]string{"ITSM Change": "#callback.close_notes#"}}),
		inboundOp("2003", "implemented", "done", implemented, events.SecureChangeSpec{Advance: true}),
		inboundOp("2004", "approved", "approve", stale, events.SecureChangeSpec{Approve: "#callback.comments#", Step: "#callback.u_sc_step#"}),
	)
	rs := g.WaitResults("scw.result.securechange.>", 6)
	for _, r := range rs {
		want := events.ResultSucceeded
		if r.Ticket == "2004" {
			want = events.ResultSkipped
		}
		if r.Status != want {
			t.Errorf("%s %s: %+v", r.Ticket, r.Action, r)
		}
	}
	if !strings.Contains(string(sc.TicketJSON("2001")), `"approved":true,"id":211,"name":"Approve Access","reason":"CAB approved on 2026-12-01"`) {
		t.Errorf("approved: %s", sc.TicketJSON("2001"))
	}
	if st := sc.Ticket("2001").CurrentStep; st == nil || st.Name != "Implementation" {
		t.Errorf("approved: current step %+v, want Implementation", st)
	}
	if f, _ := sc.Ticket("2002").Field("Approve Access"); f.Approved == nil || *f.Approved || f.Reason != "too broad: narrow the source" {
		t.Errorf("rejected: %+v", f)
	}
	if !strings.Contains(string(sc.TicketJSON("2003")), `"text":"implemented in the window"`) {
		t.Errorf("implemented: ITSM Change not set: %s", sc.TicketJSON("2003"))
	}
	if st := sc.Ticket("2003").CurrentStep; st == nil || st.Name != "Implementation" {
		t.Errorf("implemented: the task was not completed: %+v", st)
	}
	for _, r := range rs {
		if r.Ticket == "2004" && !strings.Contains(r.Reason, "refused: ") || r.Ticket == "2004" && !strings.Contains(r.Reason, "Ticket is no longer at the expected step") {
			t.Errorf("stale approval: reason %q", r.Reason)
		}
	}
	if n := puts(sc, "2004"); n != 0 {
		t.Errorf("stale approval: %d writes to the ticket, want 0", n)
	}
}

// "Request raised": a SecureChange ticket is created from the callback, the correlation
// is stored both ways, and the route's next action writes the new id back to the ITSM
// record. Performed again (a redelivery after the create was stored), nothing is created
// twice.
func TestInboundCreateWritesIDBack(t *testing.T) {
	sc := securechangetest.New(t)
	sn := newSnow(t)
	resp, err := http.Post(sn.URL+snowPath, "application/json", strings.NewReader(`{"short_description":"request"}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Result struct {
			SysID string `json:"sys_id"`
		} `json:"result"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	sys := created.Result.SysID

	g := testrig.Start(t, "itsm-sync", testConfig("", func(c *config.Config) {
		c.SecureChange = sc.Config()
		withSnow(sn, nil)(c)
	}))
	writeBack, _ := events.EncodeSpec(events.ITSMSpec{Server: "snow", Method: "PATCH", Path: snowPath + "/#callback.sys_id#", Body: `{"u_securechange_ticket":"#ticket_id#"}`})
	body := `{"type":"request_raised","sys_id":"` + sys + `","short_description":"Open 443 to the payment API","requested_for":"a.smith","src":"10.1.1.0/24","dst":"10.2.2.2","svc":"tcp 443"}`
	create := inboundOp("rec-"+sys, "raised", "create", body, events.SecureChangeSpec{Create: &events.CreateSpec{
		Workflow: "Access Request", Subject: "#callback.short_description#", Requester: "#callback.requested_for#",
		Fields:         map[string]string{"Business Justification": "ServiceNow #callback.sys_id#"},
		AccessRequests: []events.AccessRowSpec{{Sources: "#callback.src#", Destinations: "#callback.dst#", Services: "#callback.svc#"}},
		Then:           []events.ThenSpec{{Name: "write-back", Kind: events.OpITSM, Target: "snow", Spec: writeBack}},
	}})
	g.PublishOps(nil, "", create)
	r := g.WaitResults("scw.result.securechange.>", 1)[0]
	ids := sc.Created()
	if r.Status != events.ResultSucceeded || len(ids) != 1 || r.Correlation["securechange_ticket"] != ids[0] {
		t.Fatalf("create: %+v, created %v", r, ids)
	}
	id := ids[0]
	if tk := sc.Ticket(id); tk.Subject != "Open 443 to the payment API" {
		t.Errorf("created ticket: %+v", tk)
	}
	wb := g.WaitResults("scw.result.itsm.>", 1)[0]
	if wb.Status != events.ResultSucceeded || wb.Ticket != id {
		t.Fatalf("write-back: %+v", wb)
	}
	sn.mu.Lock()
	updates := sn.records[sys].Updates
	sn.mu.Unlock()
	if len(updates) != 1 || !strings.Contains(updates[0], `"u_securechange_ticket":"`+id+`"`) {
		t.Fatalf("ServiceNow record updates: %q", updates)
	}
	kv, err := g.JS.KeyValue(context.Background(), events.BucketCorrelation)
	if err != nil {
		t.Fatal(err)
	}
	corr := correlation.KV{KV: kv}
	if got, ok, _ := corr.Ticket(context.Background(), "snow", "sys_id", sys); !ok || got != id {
		t.Fatalf("reverse index: %q %v", got, ok)
	}
	if vals, _ := corr.Get(context.Background(), id, "snow"); vals["sys_id"] != sys {
		t.Fatalf("forward correlation: %v", vals)
	}
	// The same callback's create performed again, as a redelivery after the create was
	// stored (and before it was recorded) would be: the record's ticket is found,
	// nothing created.
	again := create
	again.ID, again.Action = events.OperationID(create.TriggerID, "raised", "create-again"), "create-again"
	g.PublishOps(nil, "", again)
	g.WaitResults("scw.result.securechange.>", 2)
	if ids := sc.Created(); len(ids) != 1 {
		t.Fatalf("created %v, want one ticket", ids)
	}
}

// A comment is not idempotent: its redelivery (the replica that posted it may have died
// before recording it) finds it on the ticket and does not post it again.
func TestInboundCommentRedeliveredOnce(t *testing.T) {
	sc := securechangetest.New(t)
	sc.Put(securechangetest.Fixture("2101"))
	u := newUnit(t, map[string]config.Server{}, sc)
	o := inboundOp("2101", "noted", "comment", `{"work_notes":"ServiceNow: scheduled for Friday"}`, events.SecureChangeSpec{Comment: "#callback.work_notes#"})
	for _, delivered := range []int{1, 2} {
		j := &runner.Job{Op: o, Delivered: delivered, Log: unitLog}
		if _, err := u.svc.Perform(context.Background(), j); err != nil {
			t.Fatalf("delivery %d: %v", delivered, err)
		}
	}
	n := 0
	for _, c := range sc.Comments("2101") {
		if c == "ServiceNow: scheduled for Friday" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("comments %q: the callback's %d times, want once", sc.Comments("2101"), n)
	}
}
