package itsmsync_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
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

	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.Servers["down"] = config.Server{BaseURL: bad.URL, Breaker: config.Breaker{Failures: 3, OpenFor: 500 * time.Millisecond},
			Retry: config.Retry{Attempts: 1000, MaxAge: time.Hour, MaxRetryAfter: time.Second}}
		c.Servers["up"] = config.Server{BaseURL: sink.URL}
	}))

	var downOps, upOps []events.Operation
	for i := range 50 {
		downOps = append(downOps, op(events.OpITSM, "down", fmt.Sprint(10000+i), events.Create, "r", "a",
			events.ITSMSpec{Server: "down", Method: "POST", Path: "/api", Body: `{"t":"#ticket_id#"}`}))
	}
	for i := range 1000 {
		upOps = append(upOps, op(events.OpITSM, "up", fmt.Sprint(20000+i), events.Create, "r", "a",
			events.ITSMSpec{Server: "up", Method: "POST", Path: "/api", Body: `{"t":"#ticket_id#"}`}))
	}
	start := time.Now()
	g.PublishOps(nil, "", downOps...)
	g.PublishOps(nil, "", upOps...)
	g.WaitResults("scw.result.itsm.succeeded.>", 1000)
	elapsed := time.Since(start)
	if n := good.Load(); n != 1000 {
		t.Fatalf("the healthy server saw %d requests, want 1000", n)
	}
	if downOK.Load() != 0 || !down.Load() {
		t.Fatal("the failing server recovered before the healthy one was done: the test shows nothing")
	}
	t.Logf("1000 operations delivered to the healthy server in %s while the other answered 503 (%d requests to it)", elapsed.Round(time.Millisecond), downCalls.Load())

	down.Store(false)
	g.WaitResults("scw.result.itsm.succeeded.>", 1050)
	if n := downOK.Load(); n != 50 {
		t.Fatalf("after recovery the server accepted %d operations, want 50", n)
	}
	if n := len(g.Results("scw.result.itsm.failed.>")); n != 0 {
		t.Fatalf("%d operations failed", n)
	}
}

// 300 tickets × (create, three updates), each ticket's operations stored in order and
// the tickets interleaved, with two itsm-sync replicas sharing the lanes: every ticket is
// created once, and its updates reach the server in the order they were stored, each
// after the previous one was answered.
func TestOrderingTwoReplicas(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	mutate := func(name string) func(*config.Config) {
		return func(c *config.Config) {
			withSnow(sn, nil)(c)
			c.ITSMSync.Instance = name
		}
	}
	a := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), mutate("replica-a")))
	testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), mutate("replica-b")))

	const tickets, perTicket = 300, 4
	queues := make([][]events.Operation, tickets)
	for i := range tickets {
		id := fmt.Sprint(30000 + i)
		queues[i] = append(queues[i], op(events.OpITSM, "snow", id, events.Create, "open-change", "create", createSpec()))
		for u := 1; u < perTicket; u++ {
			up := updateSpec()
			up.Body = fmt.Sprintf(`{"work_notes":"u%d of #ticket_id#"}`, u)
			queues[i] = append(queues[i], op(events.OpITSM, "snow", id, events.Advance, "update-change", fmt.Sprintf("u%d", u), up))
		}
	}
	// Interleave: take the next operation of a random ticket until all are taken.
	var ops []events.Operation
	for left := tickets * perTicket; left > 0; left-- {
		i := rand.IntN(tickets)
		for len(queues[i]) == 0 {
			i = (i + 1) % tickets
		}
		ops, queues[i] = append(ops, queues[i][0]), queues[i][1:]
	}
	a.PublishOps(nil, "", ops...)
	rs := a.WaitResults("scw.result.itsm.>", tickets*perTicket)
	byInstance := map[string]int{}
	for _, r := range rs {
		if r.Status != events.ResultSucceeded {
			t.Fatalf("result %+v", r)
		}
		byInstance[r.Instance]++
	}
	for i := range tickets {
		id := fmt.Sprint(30000 + i)
		if c, u := sn.counts(id); c != 1 || u != perTicket-1 {
			t.Errorf("ticket %s: %d creates, %d updates", id, c, u)
		}
		var got []string
		for _, b := range sn.updatesOf(id) {
			var u struct {
				Notes string `json:"work_notes"`
			}
			_ = json.Unmarshal([]byte(b), &u)
			got = append(got, strings.Fields(u.Notes + " ?")[0])
		}
		if want := []string{"u1", "u2", "u3"}; !slices.Equal(got, want) {
			t.Errorf("ticket %s: updates arrived as %v, want %v", id, got, want)
		}
	}
	if len(byInstance) != 2 {
		t.Errorf("results by replica %v: one replica did everything", byInstance)
	}
	t.Logf("results by replica: %v", byInstance)
}
