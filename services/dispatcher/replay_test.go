package dispatcher_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// republish stores ev again as `triggerflow replay` does: on its unpartitioned subject,
// with the replay's headers and message id.
func republish(g *testrig.Rig, ev events.TriggerEvent, replayID string, force bool) {
	g.T().Helper()
	b, err := ev.Marshal()
	if err != nil {
		g.T().Fatal(err)
	}
	m := natstest.NewMsg(ev.Subject(), b, ev.Headers(), events.ReplayMsgID(ev.ID, replayID))
	m.Header.Set(events.HdrReplay, replayID)
	m.Header.Set(events.HdrReplayOf, "1")
	if force {
		m.Header.Set(events.HdrForce, "true")
	}
	g.Publish(m)
}

// TestReplayedTriggerIsPlannedAgain: a trigger carrying Scw-Replay is planned again
// although its plan and operations are in the dedup window: their message ids carry the
// replay id, their headers Scw-Replay (and Scw-Force on a forced replay), while the
// operation ids stay those of the first plan. The same replay stored twice is planned once.
func TestReplayedTriggerIsPlannedAgain(t *testing.T) {
	s := natstest.RunJetStream(t)
	g := testrig.Start(t, "dispatcher", testConfig(s.ClientURL(), func(c *config.Config) {
		c.Routes = []config.Route{{Name: "open-change", On: config.RouteOn{Events: config.StringList{"CREATE"}}, Actions: []config.Action{itsmAction("create", true)}}}
	}))
	ev := trigger(events.Create, "1234", "Open request", "")
	opID := events.OperationID(ev.ID, "open-change", "create")
	g.PublishTriggers(ev)
	g.WaitCount(events.StreamOps, 1)

	republish(g, ev, "r1", true)
	republish(g, ev, "r1", true) // the same replay run twice: stored once
	republish(g, ev, "r2", false)
	g.WaitCount(events.StreamTriggers, 3)
	g.WaitCount(events.StreamPlans, 3)
	g.WaitCount(events.StreamOps, 3)

	for i, c := range []struct {
		replay, force string
	}{{"", ""}, {"r1", "true"}, {"r2", ""}} {
		pm, om := g.Msgs(events.StreamPlans, "")[i], g.Msgs(events.StreamOps, "")[i]
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
