package dispatcher_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health/metricstest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// get returns the status and body of url.
func get(t testing.TB, url string) (int, string) { return metricstest.Get(t, url) }

// TestConsumerDeletedRecreated: the dispatcher's lanes deleted while it runs make /readyz
// 503 naming them (/healthz stays 200); each is re-created with its configured settings,
// an ordered lane from the message after the last it acknowledged (no replay), /readyz is
// 200 again, and a trigger stored after the deletion is planned.
//
// Long: one scenario, told step by step.
func TestConsumerDeletedRecreated(t *testing.T) {
	s := natstest.RunJetStream(t)
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		c.Routes = []config.Route{{
			Name: "open-change", On: config.RouteOn{Events: config.StringList{"CREATE"}},
			Actions: []config.Action{itsmAction("create", true)},
		}}
	}))
	url := g.ServeHealth()
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if code, body := get(t, url+"/readyz"); code != http.StatusOK {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	first := trigger(events.Create, "1001", "Open request", "")
	g.PublishTriggers(first)
	g.WaitCount(events.StreamPlans, 1)
	lane := fmt.Sprintf("%s-p%02d", dispatcher.Durable, events.Partition("1001"))
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		info, err := g.JS.Consumer(t.Context(), events.StreamTriggers, lane)
		if err != nil {
			return err
		}
		if ack := info.CachedInfo().AckFloor.Stream; ack != 1 {
			return fmt.Errorf("%s ack floor %d, want 1", lane, ack)
		}
		return nil
	})

	consumers := dispatcher.Consumers(config.Dispatcher{}, false)
	for _, cc := range consumers {
		if err := g.JS.DeleteConsumer(t.Context(), events.StreamTriggers, cc.Durable); err != nil {
			t.Fatal(err)
		}
	}
	natstest.CheckFor(t, 60*time.Second, 5*time.Millisecond, func() error {
		code, body := get(t, url+"/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, lane+": lost (consumer deleted)") {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	if code, body := get(t, url+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d %s while consumers are re-created: liveness only", code, body)
	}
	second := trigger(events.Create, "1002", "Open request", "")
	g.PublishTriggers(second)

	natstest.CheckFor(t, 120*time.Second, 20*time.Millisecond, func() error {
		if code, body := get(t, url+"/readyz"); code != http.StatusOK {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	g.WaitCount(events.StreamPlans, 2)
	for _, m := range g.Msgs(events.StreamPlans, "") {
		if p, err := events.UnmarshalPlan(m.Data); err != nil || p.Status != events.PlanPlanned {
			t.Fatalf("plan %s: %s (%v)", m.Subject, m.Data, err)
		}
	}
	for _, cc := range consumers {
		info, err := g.JS.Consumer(t.Context(), events.StreamTriggers, cc.Durable)
		if err != nil {
			t.Fatalf("%s not re-created: %v", cc.Durable, err)
		}
		c := info.CachedInfo().Config
		if c.FilterSubject != cc.FilterSubject || c.MaxAckPending != 1 || c.AckWait != 30*time.Second || c.MaxDeliver != 3 || c.AckPolicy != jetstream.AckExplicitPolicy {
			t.Errorf("%s re-created as %+v", cc.Durable, c)
		}
		if cc.Durable == lane && (c.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || c.OptStartSeq != 2) {
			t.Errorf("%s re-created from %v %d, want the message after 1 (acknowledged)", lane, c.DeliverPolicy, c.OptStartSeq)
		}
	}
	if err := metricstest.Want(g.Registry, "triggerflow_dispatcher_plans_total", map[string]string{"event": "create", "status": "planned"}, 2); err != nil {
		t.Error(err)
	}
	if err := metricstest.Want(g.Registry, "triggerflow_consumer_recreated_total", map[string]string{"service": "dispatcher"}, float64(len(consumers))); err != nil {
		t.Error(err)
	}
	if err := metricstest.Want(g.Registry, "triggerflow_consumer_consuming", map[string]string{"durable": lane}, 1); err != nil {
		t.Error(err)
	}
	if n := strings.Count(g.Logs.String(), "consumer lost"); n != len(consumers) {
		t.Errorf("%d \"consumer lost\" logs, want one per lane (%d)", n, len(consumers))
	}
}
