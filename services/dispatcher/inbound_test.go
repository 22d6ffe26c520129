package dispatcher_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/correlation"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// inboundConfig is a dispatcher with servicenow's callbacks routed: an approval approves
// the step it names and advances; a rejection rejects; "request raised" creates a ticket
// and writes its id back.
func inboundConfig(t *testing.T, natsURL string) *config.Config {
	t.Setenv("SNOW_CALLBACK_TOKEN", "s3cret")
	sc := securechangetest.New(t)
	return testConfig(natsURL, func(c *config.Config) {
		c.SecureChange = sc.Config()
		c.Servers["servicenow"] = config.Server{BaseURL: "https://snow.example", Inbound: &config.Inbound{
			Auth: config.InboundAuth{Bearer: &config.BearerAuth{TokenEnv: "SNOW_CALLBACK_TOKEN"}}, ID: "event_id", Ticket: "u_sc_ticket", Record: "sys_id",
		}}
		c.InboundRoutes = []config.InboundRoute{{
			Name: "approved", Server: "servicenow", When: `callback.approval == "approved"`,
			Actions: []config.Action{
				{Name: "approve", SecureChange: &config.SecureChangeAction{Approve: "#callback.comments#", Step: "#callback.u_sc_step#"}},
				{Name: "advance", SecureChange: &config.SecureChangeAction{Advance: true, Step: "#callback.u_sc_step#"}},
			},
		}, {
			Name: "raised", Server: "servicenow", When: `path("type") == "request_raised"`,
			Actions: []config.Action{
				{Name: "create", SecureChange: &config.SecureChangeAction{Create: &config.CreateTicket{Workflow: "Firewall Change Request", Subject: "#callback.short_description#"}}},
				{Name: "write-back", ITSM: &config.ITSMAction{Server: "servicenow", Method: "PATCH", Path: "/api/now/table/sc_req_item/#callback.sys_id#", Body: `{"u_sc_ticket":"#ticket_id#"}`}},
			},
		}}
	})
}

// callback is a stored servicenow callback, as the ingress stores it.
func callback(ticket, record, body string) events.InboundEvent {
	cb := events.InboundEvent{Server: "servicenow", Ticket: ticket, Body: json.RawMessage(body), ReceivedAt: time.Now().UTC(), Ingress: "test"}
	if record != "" {
		cb.Record = &events.InboundRecord{Key: "sys_id", Value: record}
	}
	cb.ID = events.InboundID("servicenow", "", cb.Body)
	return cb
}

func publishCallbacks(g *testrig.Rig, cbs ...events.InboundEvent) {
	for _, cb := range cbs {
		b, err := cb.Marshal()
		if err != nil {
			g.T().Fatal(err)
		}
		g.Publish(natstest.NewMsg(cb.Subject(), b, cb.Headers(), cb.ID))
	}
}

func plans(t *testing.T, g *testrig.Rig, subject string, n int) []events.Plan {
	t.Helper()
	var out []events.Plan
	for _, m := range g.WaitMsgs(events.StreamPlans, subject, n) {
		p, err := events.UnmarshalPlan(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// An approval callback naming its ticket becomes a plan on scw.plan.inbound.<ticket>
// and the route's operations, in order, carrying the callback (their templates render
// #callback.…#) with ids derived from the callback's: stored twice, it acts once.
func TestInboundCallbackPlansOperations(t *testing.T) {
	g := testrig.Start(t, "dispatcher", inboundConfig(t, ""))
	cb := callback("1500", "", `{"approval":"approved","comments":"CAB ok","u_sc_step":"Business Approval"}`)
	publishCallbacks(g, cb)
	p := plans(t, g, "scw.plan.inbound.1500", 1)[0]
	if p.Status != events.PlanPlanned || p.TriggerID != cb.ID || len(p.Operations) != 2 || p.Routes[0] != "approved" {
		t.Fatalf("plan: %+v", p)
	}
	ops := g.WaitMsgs(events.StreamOps, "scw.op.securechange.securechange.*.1500", 2)
	for i, want := range []string{"approve", "advance"} {
		op, err := events.UnmarshalOperation(ops[i].Data)
		if err != nil {
			t.Fatal(err)
		}
		if op.Action != want || op.ID != events.OperationID(cb.ID, "approved", want) || op.Event != events.InboundEventName ||
			op.Context == nil || op.Context.Callback == nil || string(op.Context.Callback.Body) != string(cb.Body) {
			t.Fatalf("operation %d: %s", i, ops[i].Data)
		}
	}
	// The same callback stored again past the dedup window (another message id): the
	// same operation ids, which SCW_OPS stores once (and the runner's done check
	// performs once after that window).
	b, _ := cb.Marshal()
	g.Publish(natstest.NewMsg(cb.Subject(), b, cb.Headers(), cb.ID+"-again"))
	g.WaitCount(events.StreamInbound, 2)
	g.WaitMetric("triggerflow_dispatcher_plans_total", map[string]string{"event": "inbound", "status": "planned"}, 2)
	if n := len(g.Msgs(events.StreamOps, "")); n != 2 {
		t.Fatalf("%d operations stored, want 2", n)
	}
}

// A callback naming only its ITSM record finds its ticket through the reverse index of
// scw_correlation; a record no ticket is correlated with is a failed plan naming it, and
// a dead letter (which alerts).
func TestInboundRecordResolution(t *testing.T) {
	s := natstest.RunJetStream(t)
	g := testrig.Start(t, "dispatcher", inboundConfig(t, s.ClientURL()))
	kv, err := g.JS.KeyValue(context.Background(), events.BucketCorrelation)
	if err != nil {
		t.Fatal(err)
	}
	if err := (correlation.KV{KV: kv, Indexed: map[string]string{"servicenow": "sys_id"}}).Merge(context.Background(), "1600", "servicenow", map[string]string{"sys_id": "a1b2c3", "number": "CHG0030001"}); err != nil {
		t.Fatal(err)
	}
	known := callback("", "a1b2c3", `{"approval":"approved","sys_id":"a1b2c3"}`)
	unknown := callback("", "ffff0000", `{"approval":"approved","sys_id":"ffff0000"}`)
	publishCallbacks(g, known, unknown)

	if p := plans(t, g, "scw.plan.inbound.1600", 1)[0]; p.Status != events.PlanPlanned || len(p.Operations) != 2 {
		t.Fatalf("known record: %+v", p)
	}
	failed := plans(t, g, "scw.plan.inbound.rec-ffff0000", 1)[0]
	if failed.Status != events.PlanFailed || !strings.Contains(failed.Error, `unknown record: callback `+unknown.ID+` from servicenow is about record sys_id="ffff0000"`) {
		t.Fatalf("unknown record: %+v", failed)
	}
	dl := g.WaitMsgs(events.StreamDLQ, "scw.dlq.dispatcher.rec-ffff0000", 1)[0]
	if !strings.Contains(dl.Header.Get(events.HdrError), "no SecureChange ticket is correlated") || dl.Header.Get(events.HdrEvent) != "INBOUND" {
		t.Fatalf("dead letter: %v", dl.Header)
	}
}

// A "request raised" callback plans one operation, the create, in its record's lane,
// carrying the route's other actions (the write-back) for the ticket it will create.
func TestInboundCreatePlansOneOperation(t *testing.T) {
	g := testrig.Start(t, "dispatcher", inboundConfig(t, ""))
	cb := callback("", "9d1e", `{"type":"request_raised","sys_id":"9d1e","short_description":"Open 443"}`)
	publishCallbacks(g, cb)
	p := plans(t, g, "scw.plan.inbound.>", 1)[0]
	if p.Status != events.PlanPlanned || len(p.Operations) != 1 {
		t.Fatalf("plan: %+v", p)
	}
	m := g.WaitMsgs(events.StreamOps, "scw.op.securechange.securechange.*.rec-9d1e", 1)[0]
	op, _ := events.UnmarshalOperation(m.Data)
	spec, err := op.SecureChange()
	if err != nil || spec.Create == nil || spec.Create.Workflow != "Firewall Change Request" || len(spec.Create.Then) != 1 ||
		spec.Create.Then[0].Kind != events.OpITSM || spec.Create.Then[0].Name != "write-back" {
		t.Fatalf("create operation: %s (%v)", m.Data, err)
	}
}

// Inbound routes' conditions are compiled at start: an unknown name is an error naming
// the route and what a condition can use.
func TestCompileInboundRoutesErrors(t *testing.T) {
	_, err := dispatcher.CompileInboundRoutes([]config.InboundRoute{{Name: "bad", Server: "servicenow", When: `calback.state == "x"`,
		Actions: []config.Action{{SecureChange: &config.SecureChangeAction{Advance: true}}}}})
	if err == nil || !strings.Contains(err.Error(), "inbound_routes[0] (bad).when: unknown name calback") || !strings.Contains(err.Error(), "callback, path(…), server, ticket and record") {
		t.Fatalf("err = %v", err)
	}
	rs, err := dispatcher.CompileInboundRoutes([]config.InboundRoute{{Name: "ok", Server: "servicenow", When: `path("a.b") == "1" && callback.c == nil && record == ""`,
		Actions: []config.Action{{SecureChange: &config.SecureChangeAction{Advance: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := rs.Match(events.InboundEvent{Server: "servicenow", Body: json.RawMessage(`{"a":{"b":1}}`)})
	if err != nil || len(ms) != 1 {
		t.Fatalf("match: %d %v", len(ms), err)
	}
	if ms, _ := rs.Match(events.InboundEvent{Server: "jira", Body: json.RawMessage(`{"a":{"b":1}}`)}); len(ms) != 0 {
		t.Fatal("a route of another server matched")
	}
}
