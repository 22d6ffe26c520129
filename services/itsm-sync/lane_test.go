package itsmsync_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestFailingTicketHoldsOnlyItsLane measures what a ticket whose create keeps failing
// (503 every time) holds up. While it is retried, the tickets of its lane (the same
// partition of the same server, 1/16 of them) wait behind it; every other lane goes on.
// Once it has used its retries it is dead-lettered and parks only its own ticket: the
// tickets of its lane go on, and its own next operation is parked, not sent out of order.
func TestFailingTicketHoldsOnlyItsLane(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	const bad = "60000"
	var mu sync.Mutex
	done := map[string]time.Time{} // ticket → when the server created its record
	sn.setFault(func(_ *http.Request, body []byte) (int, http.Header) {
		if strings.Contains(string(body), `"u_securechange_ticket":"`+bad+`"`) {
			return http.StatusServiceUnavailable, nil
		}
		return 0, nil
	})
	retry := config.Retry{Attempts: 4, Backoff: 250 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), func(c *config.Config) {
		withSnow(sn, func(s *config.Server) { s.Breaker.Failures = -1; s.Retry = retry })(c)
	}))

	lane := events.Partition(bad)
	var same, other []string
	for i := 1; len(same) < 8 || len(other) < 40; i++ {
		id := fmt.Sprint(60000 + i)
		if events.Partition(id) == lane {
			if len(same) < 8 {
				same = append(same, id)
			}
		} else if len(other) < 40 {
			other = append(other, id)
		}
	}
	create := createSpec()
	create.Lookup = nil
	ops := []events.Operation{op(events.OpITSM, "snow", bad, events.Create, "open-change", "create", create)}
	for _, id := range append(append([]string{}, same...), other...) {
		ops = append(ops, op(events.OpITSM, "snow", id, events.Create, "open-change", "create", create))
	}
	start := time.Now()
	g.PublishOps(nil, "", ops...)
	waitCreated := func(ids []string) time.Duration {
		natstest.CheckFor(t, 2*time.Minute, 5*time.Millisecond, func() error {
			for _, id := range ids {
				if c, _ := sn.counts(id); c == 0 {
					return fmt.Errorf("ticket %s not created yet", id)
				}
				mu.Lock()
				if _, ok := done[id]; !ok {
					done[id] = time.Now()
				}
				mu.Unlock()
			}
			return nil
		})
		var last time.Time
		for _, id := range ids {
			if done[id].After(last) {
				last = done[id]
			}
		}
		return last.Sub(start)
	}
	otherLanes := waitCreated(other)
	failed := g.WaitResults("scw.result.itsm.failed."+bad+".*", 1)[0]
	failedAt := failed.FinishedAt.Sub(start)
	sameLane := waitCreated(same)
	t.Logf("a create failing with 503 every time (retry: %d attempts, backoff %s…%s) was dead-lettered after %s; "+
		"the 40 tickets of the other 15 lanes were all created within %s; the 8 tickets of its own lane within %s",
		retry.Attempts, retry.Backoff, retry.MaxBackoff, failedAt.Round(time.Millisecond), otherLanes.Round(time.Millisecond), sameLane.Round(time.Millisecond))
	if otherLanes >= failedAt {
		t.Errorf("the other lanes waited for the failing ticket: done after %s, it failed after %s", otherLanes, failedAt)
	}
	if sameLane < failedAt {
		t.Errorf("a ticket of the failing one's lane overtook it (%s < %s): the lane is not ordered", sameLane, failedAt)
	}
	if !failed.Parks || len(failed.Attempts) != retry.Attempts || !strings.Contains(failed.Error, fmt.Sprintf("gave up after %d attempts", retry.Attempts)) {
		t.Errorf("failed result %+v", failed)
	}
	// Its next operation is parked behind it, while its lane's other tickets go on.
	later := op(events.OpITSM, "snow", bad, events.Advance, "update-change", "update", updateSpec())
	next := op(events.OpITSM, "snow", same[0], events.Advance, "update-change", "update", updateSpec())
	g.PublishOps(nil, "", later, next)
	p := g.WaitResults("scw.result.itsm.parked."+bad+".*", 1)[0]
	g.WaitResults("scw.result.itsm.succeeded."+same[0]+".*", 2)
	if p.ParkedBehind != ops[0].ID {
		t.Fatalf("parked %+v", p)
	}
	if _, u := sn.counts(bad); u != 0 {
		t.Fatal("the parked update was sent")
	}
}
