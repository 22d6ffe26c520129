package dispatcher_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health/metricstest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// itsmAction is an ITSM action on the configured servicenow server.
func itsmAction(name string, mandatory bool) config.Action {
	return config.Action{Name: name, Mandatory: mandatory, ITSM: &config.ITSMAction{
		Server: "servicenow", Method: "POST", Path: "/api/now/table/change_request", Body: `{"short_description":"#ticket_subject#"}`,
	}}
}

// TestPlansAndPublishesOperations: a trigger matching a workflow-level route becomes a
// recorded plan and one operation message per action, with deterministic ids and the
// trigger's ids in the headers.
func TestPlansAndPublishesOperations(t *testing.T) {
	s := natstest.RunJetStream(t)
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		c.Routes = []config.Route{{
			Name: "open-change", On: config.RouteOn{Events: config.StringList{"CREATE"}},
			Actions: []config.Action{itsmAction("create", true), {Email: &config.EmailAction{To: []string{"requester"}, Subject: "created"}}},
		}, {
			Name: "closing", On: config.RouteOn{Events: config.StringList{"CLOSE"}}, Actions: []config.Action{itsmAction("close", false)},
		}}
	}))
	ev := trigger(events.Create, "1234", "Open request", "")
	g.PublishTriggers(ev)
	g.WaitCount(events.StreamPlans, 1)
	g.WaitCount(events.StreamOps, 2)

	pm := g.Msgs(events.StreamPlans, "")[0]
	plan, err := events.UnmarshalPlan(pm.Data)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Status != events.PlanPlanned || plan.ID != events.PlanID(ev.ID) || plan.TriggerID != ev.ID || len(plan.Operations) != 2 ||
		plan.Routes[0] != "open-change" || len(plan.Routes) != 1 || pm.Subject != "scw.plan.create.1234" || plan.Dispatcher != "dispatcher-test" {
		t.Fatalf("plan %s: %s", pm.Subject, pm.Data)
	}
	if pm.Header.Get("Nats-Msg-Id") != plan.ID || pm.Header.Get(events.HdrCausationID) != ev.ID {
		t.Fatalf("plan headers %v", pm.Header)
	}
	wantIDs := map[string]string{
		events.OperationID(ev.ID, "open-change", "create"):  fmt.Sprintf("scw.op.itsm.servicenow.%d.1234", events.Partition("1234")),
		events.OperationID(ev.ID, "open-change", "email-1"): fmt.Sprintf("scw.op.email.smtp.%d.1234", events.Partition("1234")),
	}
	for _, m := range g.Msgs(events.StreamOps, "") {
		op, err := events.UnmarshalOperation(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if wantIDs[op.ID] != m.Subject {
			t.Errorf("operation %s on %s, want %q", op.ID, m.Subject, wantIDs[op.ID])
		}
		if m.Header.Get("Nats-Msg-Id") != op.ID || m.Header.Get(events.HdrTriggerID) != ev.ID ||
			m.Header.Get(events.HdrCausationID) != plan.ID || m.Header.Get(events.HdrCorrelationID) != ev.ID || m.Header.Get(events.HdrTicketID) != "1234" {
			t.Errorf("operation headers %v", m.Header)
		}
		if op.Kind == events.OpITSM && (!op.Mandatory || !strings.Contains(string(op.Spec), `"path":"/api/now/table/change_request"`)) {
			t.Errorf("itsm operation %s", m.Data)
		}
	}
	if strings.Contains(g.Logs.String(), "trigger planned") {
		t.Errorf("a line per trigger at info:\n%s", g.Logs.String())
	}
	// A redelivery or replay of the same trigger stores nothing new.
	g.PublishTriggers(ev) // deduplicated by the stream itself
	republished := ev
	republished.Ingress = "other-ingress" // same id: a replay through another path
	b, _ := republished.Marshal()
	if _, err := g.JS.Publish(t.Context(), "scw.trigger.create.1234", b); err != nil {
		t.Fatal(err)
	}
	g.WaitCount(events.StreamTriggers, 2)
	natstest.CheckFor(t, 60e9, 20e6, func() error {
		for _, cc := range dispatcher.Consumers(config.Dispatcher{}, false) {
			info, err := g.JS.Consumer(t.Context(), events.StreamTriggers, cc.Durable)
			if err != nil {
				return err
			}
			ci, err := info.Info(t.Context())
			if err != nil {
				return err
			}
			if ci.NumAckPending+int(ci.NumPending) != 0 {
				return fmt.Errorf("lane %s still has %d pending", cc.Durable, ci.NumAckPending+int(ci.NumPending))
			}
		}
		return nil
	})
	if n := g.Count(events.StreamOps); n != 2 {
		t.Fatalf("replay stored operations again: %d", n)
	}
}

// scServer is a SecureChange simulator serving ticket JSON from testdata/sc/ticket_<id>.json.
func scServer(t testing.TB, status func(id string) int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		u, p, ok := r.BasicAuth()
		if !ok || u != "sc-user" || p != "sc-password" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := strings.TrimSuffix(filepath.Base(r.URL.Path), ".json")
		if st := status(id); st != 200 {
			w.WriteHeader(st)
			return
		}
		b, err := os.ReadFile(filepath.Join("testdata", "sc", "ticket_"+id+".json"))
		if err != nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func withSecureChange(t *testing.T, c *config.Config, url string) { withSecureChangeB(t, c, url) }

func withSecureChangeB(t testing.TB, c *config.Config, url string) {
	pw := filepath.Join(t.TempDir(), "sc-pw")
	if err := os.WriteFile(pw, []byte("sc-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.SecureChange = config.SecureChange{URL: url + "/securechangeworkflow/api/securechange", User: "sc-user", PasswordFile: pw}
}

// TestEnrichedStepRoutes: with SecureChange configured, the full ticket decides the
// workflow and the steps entered and left; the step-level route wins over the
// workflow-level one; a condition reads a field value.
func TestEnrichedStepRoutes(t *testing.T) {
	s := natstest.RunJetStream(t)
	sc, calls := scServer(t, func(string) int { return 200 })
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		withSecureChange(t, c, sc.URL)
		c.SecureChange.Retries = ptr(0)
		c.Routes = []config.Route{
			{Name: "any-advance", Workflow: "Access Request", On: config.RouteOn{Events: config.StringList{"ADVANCE"}}, Actions: []config.Action{itsmAction("wf", false)}},
			{Name: "left-risk-review", Workflow: "Access Request", On: config.RouteOn{Events: config.StringList{"ADVANCE"}, Step: "Risk Review", Point: "outbound"}, Actions: []config.Action{itsmAction("out", false)}},
			{Name: "entered-approval", Workflow: "Access Request", On: config.RouteOn{Events: config.StringList{"ADVANCE"}, Step: "Approval", Point: "inbound"}, When: `ticket.fields["Risk"] == "Low"`, Actions: []config.Action{itsmAction("in", false)}},
			{Name: "other-workflow", Workflow: "Decommission", On: config.RouteOn{Events: config.StringList{"ADVANCE"}}, Actions: []config.Action{itsmAction("x", false)}},
		}
	}))
	ev := trigger(events.Advance, "1234", "Approval", "Risk Review")
	g.PublishTriggers(ev)
	g.WaitCount(events.StreamPlans, 1)
	plan, err := events.UnmarshalPlan(g.Msgs(events.StreamPlans, "")[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Enriched || plan.Workflow != "Access Request" || strings.Join(plan.Routes, ",") != "left-risk-review,entered-approval" {
		t.Fatalf("plan: enriched %v workflow %q routes %v", plan.Enriched, plan.Workflow, plan.Routes)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d SecureChange calls", calls.Load())
	}
}

// TestPermanentFailureDeadLetters: a ticket SecureChange does not know (404) gives a
// failed plan and a dead letter with the reason, at once; the next trigger is planned.
func TestPermanentFailureDeadLetters(t *testing.T) {
	s := natstest.RunJetStream(t)
	sc, calls := scServer(t, func(id string) int {
		if id == "404404" {
			return 404
		}
		return 200
	})
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		withSecureChange(t, c, sc.URL)
		c.SecureChange.Retries = ptr(2)
		c.Routes = []config.Route{{Name: "all", On: config.RouteOn{Events: config.StringList{"ADVANCE"}}, Actions: []config.Action{itsmAction("a", false)}}}
	}))
	bad := trigger(events.Advance, "404404", "Approval", "")
	g.PublishTriggers(bad)
	g.WaitCount(events.StreamDLQ, 1)
	dl := g.Msgs(events.StreamDLQ, "")[0]
	if dl.Subject != "scw.dlq.dispatcher.404404" || !strings.Contains(dl.Header.Get(events.HdrError), "not found") ||
		dl.Header.Get(events.HdrOriginalSubject) != bad.StoredSubject() || dl.Header.Get(events.HdrTriggerID) != bad.ID || dl.Header.Get(events.HdrAttempt) != "1" {
		t.Fatalf("dead letter %s %v", dl.Subject, dl.Header)
	}
	if calls.Load() != 1 {
		t.Fatalf("a 404 was retried: %d calls", calls.Load())
	}
	good := trigger(events.Advance, "1234", "Approval", "")
	g.PublishTriggers(good)
	g.WaitCount(events.StreamPlans, 2)
	var failed, planned int
	for _, m := range g.Msgs(events.StreamPlans, "") {
		p, _ := events.UnmarshalPlan(m.Data)
		switch {
		case p.Status == events.PlanFailed && p.TriggerID == bad.ID && strings.Contains(p.Error, "not found"):
			failed++
		case p.Status == events.PlanPlanned && p.TriggerID == good.ID:
			planned++
		}
	}
	if failed != 1 || planned != 1 {
		t.Fatalf("failed %d planned %d", failed, planned)
	}
	g.WaitCount(events.StreamOps, 1) // the good plan's one operation, and none of the failed plan's
	// The metrics say the same: a failed and a planned ADVANCE, one dead letter.
	natstest.CheckFor(t, 60*time.Second, 25*time.Millisecond, func() error {
		return errors.Join(
			metricstest.Want(g.Registry, "triggerflow_dispatcher_plans_total", map[string]string{"event": "advance", "status": "failed"}, 1),
			metricstest.Want(g.Registry, "triggerflow_dispatcher_plans_total", map[string]string{"event": "advance", "status": "planned"}, 1),
			metricstest.Want(g.Registry, "triggerflow_dlq_messages", map[string]string{"service": "dispatcher"}, 1),
			metricstest.Want(g.Registry, "triggerflow_consumer_pending_messages", map[string]string{"service": "dispatcher"}, 0),
		)
	})
}

// TestTransientRetriedThenDeadLettered: SecureChange down → the trigger is NAKed with
// backoff until MaxDeliver, then dead-lettered saying so.
func TestTransientRetriedThenDeadLettered(t *testing.T) {
	s := natstest.RunJetStream(t)
	sc, calls := scServer(t, func(string) int { return 503 })
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		withSecureChange(t, c, sc.URL)
		c.SecureChange.Retries = ptr(0)
		c.Dispatcher.MaxDeliver = 3
		c.Routes = []config.Route{{Name: "all", Actions: []config.Action{itsmAction("a", false)}}}
	}))
	g.PublishTriggers(trigger(events.Reject, "1234", "Approval", ""))
	g.WaitCount(events.StreamDLQ, 1)
	dl := g.Msgs(events.StreamDLQ, "")[0]
	if !strings.Contains(dl.Header.Get(events.HdrError), "gave up after 3 deliveries") || dl.Header.Get(events.HdrAttempt) != "3" {
		t.Fatalf("dead letter headers %v", dl.Header)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d SecureChange calls, want 3 (one per delivery)", calls.Load())
	}
}

// TestOutageHoldsTheLane: with dispatcher.max_deliver unset (the default) a trigger that
// fails transiently is retried for as long as SecureChange is down, well past the old
// bound of 8 deliveries, holding its lane: the ticket's next trigger waits behind it and
// both are planned in order once SecureChange answers, with nothing dead-lettered. Past
// dispatcher.max_age it is dead-lettered, saying which bound ended it.
func TestOutageHoldsTheLane(t *testing.T) {
	s := natstest.RunJetStream(t)
	var down atomic.Bool
	down.Store(true)
	sc, calls := scServer(t, func(string) int {
		if down.Load() {
			return 503
		}
		return 200
	})
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		withSecureChange(t, c, sc.URL)
		c.SecureChange.Retries = ptr(0)
		c.Dispatcher.MaxDeliver = 0
		c.Dispatcher.MaxAge = time.Hour
		c.Routes = []config.Route{{Name: "all", Actions: []config.Action{itsmAction("a", false)}}}
	}))
	first, second := trigger(events.Create, "1234", "Open request", ""), trigger(events.Advance, "1234", "Approval", "")
	g.PublishTriggers(first, second)
	natstest.CheckFor(t, testrig.Patience, 10*time.Millisecond, func() error {
		if n := calls.Load(); n < 12 {
			return fmt.Errorf("%d SecureChange calls so far", n)
		}
		return nil
	})
	if n := natstest.StreamMsgs(t, g.JS, events.StreamPlans); n != 0 {
		t.Fatalf("%d plans while SecureChange is down, want 0 (the lane is held)", n)
	}
	down.Store(false)
	g.WaitCount(events.StreamPlans, 2)
	plans := g.Msgs(events.StreamPlans, "")
	for i, want := range []string{first.ID, second.ID} {
		p, err := events.UnmarshalPlan(plans[i].Data)
		if err != nil || p.TriggerID != want || p.Status == events.PlanFailed {
			t.Fatalf("plan %d: %+v, %v; want trigger %s planned", i, p, err, want)
		}
	}
	if n := natstest.StreamMsgs(t, g.JS, events.StreamDLQ); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}

	s2 := natstest.RunJetStream(t)
	old := testrig.Start(t, "dispatcher", testConfig(s2.ClientURL(), func(c *config.Config) {
		withSecureChange(t, c, sc.URL)
		c.SecureChange.Retries = ptr(0)
		c.Dispatcher.MaxDeliver = 0
		c.Dispatcher.MaxAge = 300 * time.Millisecond
		c.Routes = []config.Route{{Name: "all", Actions: []config.Action{itsmAction("a", false)}}}
	}))
	down.Store(true)
	old.PublishTriggers(trigger(events.Reject, "1234", "Approval", ""))
	old.WaitCount(events.StreamDLQ, 1)
	if e := old.Msgs(events.StreamDLQ, "")[0].Header.Get(events.HdrError); !strings.Contains(e, "after it was stored (dispatcher.max_age)") || !strings.Contains(e, "503") {
		t.Fatalf("dead letter error %q", e)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPluginsInThePipeline: a KVGroup plugin's added operation is published with the
// planned ones and its infomsg recorded; a plugin's errmsg fails the plan and
// dead-letters the trigger at once.
func TestPluginsInThePipeline(t *testing.T) {
	s := natstest.RunJetStream(t)
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		c.Dispatcher.Plugins = []config.Plugin{{Name: "cab", Command: []string{abs("../../internal/rewrite/testdata/plugins/kv_add.sh")}}}
		c.Routes = []config.Route{{Name: "open-change", On: config.RouteOn{Events: config.StringList{"CREATE"}}, Actions: []config.Action{itsmAction("create", true)}}}
	}))
	ev := trigger(events.Create, "77", "Open request", "")
	g.PublishTriggers(ev)
	g.WaitCount(events.StreamOps, 2)
	plan, err := events.UnmarshalPlan(g.Msgs(events.StreamPlans, "")[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Operations) != 2 || !strings.Contains(strings.Join(plan.Info, "\n"), "added the CAB notification") {
		t.Fatalf("plan after the plugin: %+v", plan)
	}
	var added events.Operation
	for _, op := range plan.Operations {
		if op.Route == "plugin:cab" {
			added = op
		}
	}
	if added.Kind != events.OpEmail || added.TriggerID != ev.ID || added.Target != "smtp" {
		t.Fatalf("plugin-added operation %+v", added)
	}

	s2 := natstest.RunJetStream(t)
	bad := testrig.Start(t, "dispatcher", testConfig(s2.ClientURL(), func(c *config.Config) {
		c.Dispatcher.Plugins = []config.Plugin{{Name: "veto", Command: []string{abs("../../internal/rewrite/testdata/plugins/kv_errmsg.sh")}}}
		c.Routes = []config.Route{{Name: "open-change", Actions: []config.Action{itsmAction("create", true)}}}
	}))
	bad.PublishTriggers(ev)
	bad.WaitCount(events.StreamDLQ, 1)
	dl := bad.Msgs(events.StreamDLQ, "")[0]
	if !strings.Contains(dl.Header.Get(events.HdrError), "veto") || dl.Header.Get(events.HdrAttempt) != "1" {
		t.Fatalf("dead letter %v", dl.Header)
	}
	if bad.Count(events.StreamOps) != 0 {
		t.Fatal("operations published despite the plugin's errmsg")
	}
}
