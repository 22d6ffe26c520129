package itsmsync_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/pkg/natsserver/natstest"
)

// One server answers 503, slowly, the whole time; 1 000 operations for another server
// are all delivered while it does. When it recovers, its own operations go through.
func TestServerIsolation(t *testing.T) {
	ns := natstest.RunJetStream(t)
	var down atomic.Bool
	down.Store(true)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var downCalls, downOK atomic.Int64
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downCalls.Add(1)
		if down.Load() {
			select { // slow, then 503
			case <-time.After(500 * time.Millisecond):
			case <-release:
			}
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		downOK.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"result":{"sys_id":"x"}}`))
	}))
	t.Cleanup(bad.Close)
	var good atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		good.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"result":{"sys_id":"y"}}`))
	}))
	t.Cleanup(sink.Close)

	g := startSync(t, ns.ClientURL(), func(c *config.Config) {
		c.Servers["down"] = config.Server{BaseURL: bad.URL, Breaker: config.Breaker{Failures: 3, OpenFor: 500 * time.Millisecond},
			Retry: config.Retry{Attempts: 1000, MaxAge: time.Hour, MaxRetryAfter: time.Second}}
		c.Servers["up"] = config.Server{BaseURL: sink.URL}
	}, nil)

	var downOps, upOps []events.Operation
	for i := range 50 {
		downOps = append(downOps, op(events.OpITSM, "down", fmt.Sprint(10000+i), events.Create, "r", "a",
			config.ITSMAction{Server: "down", Method: "POST", Path: "/api", Body: `{"t":"#ticket_id#"}`}))
	}
	for i := range 1000 {
		upOps = append(upOps, op(events.OpITSM, "up", fmt.Sprint(20000+i), events.Create, "r", "a",
			config.ITSMAction{Server: "up", Method: "POST", Path: "/api", Body: `{"t":"#ticket_id#"}`}))
	}
	start := time.Now()
	publish(t, g.NC, downOps, nil, "")
	publish(t, g.NC, upOps, nil, "")
	g.waitResults("scw.result.itsm.succeeded.>", 1000)
	elapsed := time.Since(start)
	if n := good.Load(); n != 1000 {
		t.Fatalf("the healthy server saw %d requests, want 1000", n)
	}
	if downOK.Load() != 0 || !down.Load() {
		t.Fatal("the failing server recovered before the healthy one was done: the test shows nothing")
	}
	t.Logf("1000 operations delivered to the healthy server in %s while the other answered 503 (%d requests to it)", elapsed.Round(time.Millisecond), downCalls.Load())

	down.Store(false)
	g.waitResults("scw.result.itsm.succeeded.>", 1050)
	if n := downOK.Load(); n != 50 {
		t.Fatalf("after recovery the server accepted %d operations, want 50", n)
	}
	if n := len(g.results("scw.result.itsm.failed.>")); n != 0 {
		t.Fatalf("%d operations failed", n)
	}
}

// CREATE and ADVANCE for 500 tickets, published concurrently in random order, with two
// itsm-sync replicas: every ticket is created once and updated once, after its create.
func TestOrderingTwoReplicas(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	mutate := func(name string) func(*config.Config) {
		return func(c *config.Config) {
			withSnow(sn, nil)(c)
			c.ITSMSync.Instance = name
		}
	}
	a := startSync(t, ns.ClientURL(), mutate("replica-a"), nil)
	startSync(t, ns.ClientURL(), mutate("replica-b"), nil)

	const tickets = 500
	var ops []events.Operation
	for i := range tickets {
		id := fmt.Sprint(30000 + i)
		ops = append(ops,
			op(events.OpITSM, "snow", id, events.Create, "open-change", "create", createSpec()),
			op(events.OpITSM, "snow", id, events.Advance, "update-change", "update", updateSpec()))
	}
	rand.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	var wg sync.WaitGroup
	for half := range 2 { // two concurrent publishers
		wg.Add(1)
		go func() {
			defer wg.Done()
			publish(t, a.NC, ops[half*tickets:(half+1)*tickets], nil, "")
		}()
	}
	wg.Wait()
	rs := a.waitResults("scw.result.itsm.>", 2*tickets)
	byInstance := map[string]int{}
	for _, r := range rs {
		if r.Status != events.ResultSucceeded {
			t.Fatalf("result %+v", r)
		}
		byInstance[r.Instance]++
	}
	first := map[string]string{}
	for _, e := range sn.eventLog() {
		kind, ticket, _ := strings.Cut(e, " ")
		if _, seen := first[ticket]; !seen {
			first[ticket] = kind
		}
	}
	for i := range tickets {
		id := fmt.Sprint(30000 + i)
		if c, u := sn.counts(id); c != 1 || u != 1 {
			t.Errorf("ticket %s: %d creates, %d updates", id, c, u)
		}
		if first[id] != "create" {
			t.Errorf("ticket %s: the server saw %q first", id, first[id])
		}
	}
	t.Logf("results by replica: %v", byInstance)
}
