package itsmsync_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health/metricstest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// get returns the status and body of url.
func get(t testing.TB, url string) (int, string) { return metricstest.Get(t, url) }

// TestMetricsAfterWorkload: five creates that succeed and one the server refuses are
// counted by outcome, the successes' delivery latency observed, the refused one is a
// dead letter in the DLQ gauge; while the server is down the lane's lag shows what waits
// and the breaker is open; once it is back, the lag is 0 and the breaker closed.
func TestMetricsAfterWorkload(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, func(s *config.Server) {
		s.Breaker = config.Breaker{Failures: 2, OpenFor: 200 * time.Millisecond}
	})))
	snowOps := map[string]string{"service": "itsm-sync", "kind": "itsm", "target": "snow"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range snowOps {
			m[a] = b
		}
		return m
	}

	sn.failBodies("refuse-me", http.StatusBadRequest)
	var ops []events.Operation
	for i := range 5 {
		ops = append(ops, op(events.OpITSM, "snow", fmt.Sprint(2000+i), events.Create, "open-change", "create", createSpec()))
	}
	refused := createSpec()
	refused.Body = `{"short_description":"refuse-me","u_securechange_ticket":"#ticket_id#"}`
	refused.Lookup = nil
	ops = append(ops, op(events.OpITSM, "snow", "2999", events.Create, "open-change", "create", refused))
	g.PublishOps(nil, "", ops...)
	g.WaitResults("scw.result.itsm.>", 6)

	g.WaitMetric("triggerflow_operation_deliveries_total", with("outcome", "succeeded"), 5)
	g.WaitMetric("triggerflow_operation_deliveries_total", with("outcome", "failed"), 1)
	g.WaitMetric("triggerflow_operation_delivery_seconds", snowOps, 5) // observations
	g.WaitMetric("triggerflow_itsm_requests_total", map[string]string{"target": "snow", "status": "400"}, 1)
	g.WaitMetric("triggerflow_dlq_messages", map[string]string{"service": "itsm-sync"}, 1)
	g.WaitMetric("triggerflow_itsm_breaker_state", map[string]string{"server": "snow"}, 0)
	g.WaitMetric("triggerflow_consumer_pending_messages", map[string]string{"service": "itsm-sync"}, 0)
	g.WaitMetric("triggerflow_consumer_consuming", map[string]string{"service": "itsm-sync"}, float64(events.Partitions))
	if _, n, err := metricstest.Sum(g.Registry, "triggerflow_build_info", nil); err != nil || n != 1 {
		t.Errorf("triggerflow_build_info: %d series, %v", n, err)
	}

	// The server is down: the lane of ticket 3000 holds its first operation (ack
	// pending) and the other two wait behind it (lag 2).
	sn.setFault(func(*http.Request, []byte) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	var down []events.Operation
	for _, action := range []string{"create", "create-2", "create-3"} {
		down = append(down, op(events.OpITSM, "snow", "3000", events.Create, "open-change", action, createSpec()))
	}
	g.PublishOps(nil, "", down...)
	g.WaitMetric("triggerflow_consumer_pending_messages", map[string]string{"service": "itsm-sync"}, 2)
	g.WaitMetric("triggerflow_consumer_ack_pending_messages", map[string]string{"service": "itsm-sync"}, 1)
	natstest.CheckFor(t, 60*time.Second, 10*time.Millisecond, func() error {
		// open most of the time: a probe (half-open) fails at once
		if v, _, err := metricstest.Sum(g.Registry, "triggerflow_itsm_breaker_state", map[string]string{"server": "snow"}); err != nil || v == 0 {
			return fmt.Errorf("breaker state %v (%v), want open or half-open", v, err)
		}
		return nil
	})

	sn.setFault(nil)
	g.WaitResults("scw.result.itsm.succeeded.3000.*", 3)
	g.WaitMetric("triggerflow_consumer_pending_messages", map[string]string{"service": "itsm-sync"}, 0)
	g.WaitMetric("triggerflow_consumer_ack_pending_messages", map[string]string{"service": "itsm-sync"}, 0)
	g.WaitMetric("triggerflow_itsm_breaker_state", map[string]string{"server": "snow"}, 0)
	g.WaitMetric("triggerflow_operation_deliveries_total", with("outcome", "succeeded"), 8)
}

// TestLaneConsumerDeletedRecreated: one lane of a server deleted while itsm-sync runs
// makes /readyz 503 naming it until it is re-created; an operation stored after the
// deletion (the ticket's update, behind its create) is then performed.
func TestLaneConsumerDeletedRecreated(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))
	url := g.ServeHealth()
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if code, body := get(t, url+"/readyz"); code != http.StatusOK {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	create := op(events.OpITSM, "snow", "1234", events.Create, "open-change", "create", createSpec())
	g.PublishOps(nil, "", create)
	g.WaitResults("scw.result.itsm.succeeded.1234.*", 1)

	lane := fmt.Sprintf("itsm-sync-snow-p%02d", events.Partition("1234"))
	if err := g.JS.DeleteConsumer(t.Context(), events.StreamOps, lane); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 60*time.Second, 5*time.Millisecond, func() error {
		code, body := get(t, url+"/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, lane+": lost (consumer deleted)") || strings.Count(body, "itsm-sync-") != 1 {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	update := op(events.OpITSM, "snow", "1234", events.Advance, "update-change", "update", updateSpec())
	g.PublishOps(nil, "", update)
	natstest.CheckFor(t, 120*time.Second, 20*time.Millisecond, func() error {
		if code, body := get(t, url+"/readyz"); code != http.StatusOK {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	g.WaitResults("scw.result.itsm.succeeded.1234.*", 2)
	if c, u := sn.counts("1234"); c != 1 || u != 1 {
		t.Fatalf("creates %d, updates %d: the create was replayed or the update lost", c, u)
	}
	if err := metricstest.Want(g.Registry, "triggerflow_consumer_recreated_total", map[string]string{"durable": lane}, 1); err != nil {
		t.Error(err)
	}
}
