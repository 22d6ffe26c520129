package events_test

import (
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/pkg/events"
)

var updatePlan = flag.Bool("update-plan", false, "rewrite testdata/plan.golden.json")

func samplePlan() events.Plan {
	trig := "0123456789abcdef0123456789abcdef"
	op := events.Operation{
		Kind: events.OpITSM, Target: "servicenow", Route: "open-change", Action: "create",
		TriggerID: trig, Ticket: "1234", Event: events.Create, Mandatory: true, Group: "snow",
		Spec:  json.RawMessage(`{"method":"POST","path":"/api/now/table/change_request"}`),
		Attrs: map[string]string{"priority": "2"},
	}
	op.ID = events.OperationID(trig, op.Route, op.Action)
	return events.Plan{
		ID: events.PlanID(trig), TriggerID: trig, Ticket: "1234", Event: events.Create, Workflow: "Access Request",
		Status: events.PlanPlanned, Info: []string{"plugin enrich: added 1"}, Routes: []string{"open-change"},
		Operations: []events.Operation{op}, Enriched: true,
		PlannedAt: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), Dispatcher: "dispatcher-0",
	}
}

// TestPlanGolden: the plan wire format is pinned by testdata/plan.golden.json.
func TestPlanGolden(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	got, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *updatePlan {
		if err := os.WriteFile("testdata/plan.golden.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/plan.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("plan JSON changed:\n%s\nwant:\n%s", got, want)
	}
	back, err := events.UnmarshalPlan(want)
	if err != nil || string(mustJSON(t, back)) != string(mustJSON(t, p)) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	op, err := events.UnmarshalOperation(mustJSON(t, p.Operations[0]))
	if err != nil || !reflect.DeepEqual(op, p.Operations[0]) {
		t.Fatalf("operation round trip: %+v %v", op, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOperationIDsAndSubjects(t *testing.T) {
	t.Parallel()
	a := events.OperationID("t1", "r", "a")
	for _, other := range []string{events.OperationID("t2", "r", "a"), events.OperationID("t1", "r2", "a"), events.OperationID("t1", "r", "a2"), events.OperationID("t1r", "", "a")} {
		if other == a {
			t.Fatalf("id collision: %s", a)
		}
	}
	if a != events.OperationID("t1", "r", "a") || len(a) != 32 {
		t.Fatalf("not deterministic or wrong length: %s", a)
	}
	p := samplePlan()
	if got := p.Subject(); got != "scw.plan.create.1234" {
		t.Fatalf("plan subject %s", got)
	}
	op := p.Operations[0]
	if got := op.Subject(); got != "scw.op.itsm.servicenow.1234" {
		t.Fatalf("op subject %s", got)
	}
	op.Target = "snow.prod *"
	if got := op.Subject(); got != "scw.op.itsm.snow_prod__.1234" {
		t.Fatalf("unsafe target not escaped: %s", got)
	}
	h := p.Operations[0].Headers()
	if h[events.HdrCausationID] != events.PlanID(p.TriggerID) || h[events.HdrCorrelationID] != p.TriggerID {
		t.Fatalf("headers %v", h)
	}
}
