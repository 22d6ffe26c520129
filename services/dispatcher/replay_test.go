package dispatcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// republish stores ev again as `triggerflow replay` does: on its unpartitioned subject,
// with the replay's headers and message id.
func (g *rig) republish(ev events.TriggerEvent, replayID string, force bool) {
	g.t.Helper()
	b, err := ev.Marshal()
	if err != nil {
		g.t.Fatal(err)
	}
	m := nats.NewMsg(ev.Subject())
	m.Data = b
	for k, v := range ev.Headers() {
		m.Header.Set(k, v)
	}
	m.Header.Set(events.HdrReplay, replayID)
	m.Header.Set(events.HdrReplayOf, "1")
	if force {
		m.Header.Set(events.HdrForce, "true")
	}
	m.Header.Set(nats.MsgIdHdr, events.ReplayMsgID(ev.ID, replayID))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.JS.PublishMsg(ctx, m); err != nil {
		g.t.Fatal(err)
	}
}

// TestReplayedTriggerIsPlannedAgain: a trigger carrying Scw-Replay is planned again
// although its plan and operations are in the dedup window: their message ids carry the
// replay id, their headers Scw-Replay (and Scw-Force on a forced replay), while the
// operation ids stay those of the first plan. The same replay stored twice is planned once.
func TestReplayedTriggerIsPlannedAgain(t *testing.T) {
	s := natstest.RunJetStream(t)
	g := startDispatcher(t, s.ClientURL(), func(c *config.Config) {
		c.Routes = []config.Route{{Name: "open-change", On: config.RouteOn{Events: config.StringList{"CREATE"}}, Actions: []config.Action{itsmAction("create", true)}}}
	})
	ev := trigger(events.Create, "1234", "Open request", "")
	opID := events.OperationID(ev.ID, "open-change", "create")
	g.publishTrigger(ev)
	g.waitCount(events.StreamOps, 1)

	g.republish(ev, "r1", true)
	g.republish(ev, "r1", true) // the same replay run twice: stored once
	g.republish(ev, "r2", false)
	g.waitCount(events.StreamTriggers, 3)
	g.waitCount(events.StreamPlans, 3)
	g.waitCount(events.StreamOps, 3)

	for i, c := range []struct {
		replay, force string
	}{{"", ""}, {"r1", "true"}, {"r2", ""}} {
		pm, om := g.msgs(events.StreamPlans, "")[i], g.msgs(events.StreamOps, "")[i]
		plan, err := events.UnmarshalPlan(pm.Data)
		if err != nil {
			t.Fatal(err)
		}
		op, err := events.UnmarshalOperation(om.Data)
		if err != nil {
			t.Fatal(err)
		}
		wantPlan, wantOp := plan.ID, opID
		if c.replay != "" {
			wantPlan, wantOp = events.ReplayMsgID(plan.ID, c.replay), events.ReplayMsgID(opID, c.replay)
		}
		if plan.ID != events.PlanID(ev.ID) || pm.Header.Get(nats.MsgIdHdr) != wantPlan ||
			pm.Header.Get(events.HdrReplay) != c.replay || pm.Header.Get(events.HdrForce) != c.force {
			t.Errorf("plan %d: id %s, headers %v", i, plan.ID, pm.Header)
		}
		if op.ID != opID || om.Header.Get(nats.MsgIdHdr) != wantOp ||
			om.Header.Get(events.HdrReplay) != c.replay || om.Header.Get(events.HdrForce) != c.force ||
			om.Header.Get(events.HdrTriggerID) != ev.ID {
			t.Errorf("operation %d: id %s, headers %v", i, op.ID, om.Header)
		}
	}
}
