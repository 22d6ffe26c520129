package dispatcher_test

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestTicketOrderThroughRetries: two dispatcher replicas plan 60 tickets × (CREATE,
// ADVANCE, CLOSE), stored in order per ticket, while SecureChange fails the first
// enrichment of every third trigger (a 503, retried after the dispatcher's backoff). The
// operations of each ticket are still published in the order of its triggers: a trigger
// waiting for its retry holds the later triggers of its ticket (its lane), not those of
// the other lanes.
//
// Long: one scenario, told step by step.
func TestTicketOrderThroughRetries(t *testing.T) {
	s := natstest.RunJetStream(t)
	ticket, err := os.ReadFile(filepath.Join("testdata", "sc", "ticket_1234.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{} // calls per ticket
	sc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(filepath.Base(r.URL.Path), ".json")
		mu.Lock()
		seen[id]++
		n := seen[id]
		mu.Unlock()
		h := fnv.New32a()
		_, _ = fmt.Fprintf(h, "%s/%d", id, n)
		if h.Sum32()%3 == 0 { // a 503 for about a third of the calls, whichever trigger
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(strings.Replace(string(ticket), `"id": 1234`, `"id": `+id, 1)))
	}))
	t.Cleanup(sc.Close)
	route := func(ev string) config.Route {
		return config.Route{Name: "on-" + strings.ToLower(ev), On: config.RouteOn{Events: config.StringList{ev}}, Actions: []config.Action{itsmAction("call", false)}}
	}
	mutate := func(name string) func(*config.Config) {
		return func(c *config.Config) {
			withSecureChangeB(t, c, sc.URL)
			c.SecureChange.Retries = ptr(0)
			c.Dispatcher.Instance = name
			c.Dispatcher.MaxDeliver = 50
			c.Dispatcher.Backoff = []time.Duration{300 * time.Millisecond}
			c.Routes = []config.Route{route("CREATE"), route("ADVANCE"), route("CLOSE")}
		}
	}
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), mutate("dispatcher-a")))
	testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), mutate("dispatcher-b")))

	const tickets = 60
	order := []events.Trigger{events.Create, events.Advance, events.Close}
	var evs []events.TriggerEvent
	for _, ev := range order {
		for i := range tickets {
			e := trigger(ev, fmt.Sprint(5000+i), "Approval", "")
			evs = append(evs, e)
		}
	}
	natstest.PublishTriggers(t, g.NC, evs...)
	g.WaitCount(events.StreamOps, uint64(len(evs)))

	got := map[string][]string{}
	planners := map[string]int{}
	for _, m := range g.Msgs(events.StreamOps, "") {
		op, err := events.UnmarshalOperation(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got[op.Ticket] = append(got[op.Ticket], string(op.Event))
	}
	for _, m := range g.Msgs(events.StreamPlans, "") {
		p, _ := events.UnmarshalPlan(m.Data)
		planners[p.Dispatcher]++
	}
	retried := 0
	for _, n := range seen {
		retried += n - len(order) // one successful enrichment per trigger
	}
	for i := range tickets {
		id := fmt.Sprint(5000 + i)
		if strings.Join(got[id], ",") != "CREATE,ADVANCE,CLOSE" {
			t.Errorf("ticket %s: operations published as %v", id, got[id])
		}
	}
	if retried == 0 {
		t.Fatal("no enrichment failed: the test tested nothing")
	}
	if len(planners) != 2 {
		t.Errorf("plans by replica %v: one replica did everything", planners)
	}
	t.Logf("%d enrichments retried; plans by replica %v", retried, planners)
}
