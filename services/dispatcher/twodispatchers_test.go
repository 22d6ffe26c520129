package dispatcher_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestTwoDispatchers: two dispatchers share the durable consumer over 10 000 triggers:
// every trigger is planned, both replicas work, and no operation id is stored twice.
func TestTwoDispatchers(t *testing.T) {
	const n = 10000
	s := natstest.RunJetStream(t)
	routes := func(c *config.Config) {
		c.Dispatcher.PullBatch = 8
		c.Routes = []config.Route{{Name: "every", Actions: []config.Action{itsmAction("call", false)}}}
	}
	a := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) { routes(c); c.Dispatcher.Instance = "a" }))
	b := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) { routes(c); c.Dispatcher.Instance = "b" }))

	want := map[string]bool{}
	evs := make([]events.TriggerEvent, n)
	for i := range evs {
		evs[i] = trigger(events.Create, fmt.Sprint(100000+i), "Open request", "")
		want[events.OperationID(evs[i].ID, "every", "call")] = true
	}
	natstest.PublishTriggers(t, a.NC, evs...)

	a.WaitCount(events.StreamPlans, n)
	a.WaitCount(events.StreamOps, n)

	seen := map[string]int{}
	byDispatcher := map[string]int{}
	for _, m := range a.Msgs(events.StreamOps, "") {
		seen[m.Header.Get("Nats-Msg-Id")]++
	}
	for _, m := range a.Msgs(events.StreamPlans, "") {
		p, err := events.UnmarshalPlan(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		byDispatcher[p.Dispatcher]++
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("operation %s stored %d times", id, c)
		}
		if !want[id] {
			t.Errorf("unexpected operation %s", id)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct operations, want %d", len(seen), n)
	}
	if byDispatcher["a"] == 0 || byDispatcher["b"] == 0 || byDispatcher["a"]+byDispatcher["b"] != n {
		t.Fatalf("plans by dispatcher: %v", byDispatcher)
	}
	t.Logf("plans by dispatcher: %v", byDispatcher)
	if strings.Contains(a.Logs.String()+b.Logs.String(), "level=ERROR") {
		t.Fatalf("errors logged")
	}
}
