package itsmsync_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestCreateThenUpdateOnACluster: on a 3-node cluster with nats.replicas: 3, itsm-sync,
// connected to a server that does not lead scw_correlation, performs each ticket's
// create and updates in order, every update finding the sys_id its create stored a
// moment before, and reads nothing with a direct get (a tap on its server): a follower
// may not have that sys_id yet (natsconn.Reader), and an update missing it fails for
// good ("needs correlation values") and parks its lane.
func TestCreateThenUpdateOnACluster(t *testing.T) {
	ss := natstest.RunCluster(t, 3)
	ctx := t.Context()
	const replicas = 3
	admin := natstest.JetStream(t, ss[0].ClientURL())
	cfg := testConfig("", nil)
	cfg.NATS.Replicas = replicas
	if err := natsconn.EnsureStreams(ctx, admin, natsconn.StreamSpecs(cfg), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := natsconn.EnsureBuckets(ctx, admin, replicas); err != nil {
		t.Fatal(err)
	}
	_, info := natstest.StreamInfo(ctx, t, admin, "KV_"+events.BucketCorrelation)
	var follower string
	for i, s := range ss {
		if name := fmt.Sprintf("n%d", i); name != info.Cluster.Leader {
			follower = s.ClientURL()
			t.Logf("scw_correlation led by %s; itsm-sync connects to %s", info.Cluster.Leader, name)
			break
		}
	}
	sn := newSnow(t)
	g := testrig.Start(t, "itsm-sync", testConfig(follower, func(c *config.Config) {
		c.NATS.Replicas = replicas
		withSnow(sn, nil)(c)
	}))

	const tickets = 30
	var ops []events.Operation
	for i := range tickets {
		ticket := fmt.Sprint(2000 + i)
		ops = append(ops,
			op(events.OpITSM, "snow", ticket, events.Create, "open-change", "create", createSpec()),
			op(events.OpITSM, "snow", ticket, events.Advance, "update-change", "update", updateSpec()),
			op(events.OpITSM, "snow", ticket, events.Advance, "note-change", "update", updateSpec()))
	}
	tap := natstest.Tap(t, follower)
	g.PublishOps(nil, "", ops...)
	natstest.CheckFor(t, 2*time.Minute, 20*time.Millisecond, func() error {
		var rs []events.Result
		for _, m := range natstest.Msgs(t, tap.Quiet(), events.StreamResults, "scw.result.itsm.>") {
			r, err := events.UnmarshalResult(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		for _, r := range rs {
			if r.Status != events.ResultSucceeded {
				t.Fatalf("ticket %s, %s: %s: %s", r.Ticket, r.Action, r.Status, r.Error)
			}
		}
		if len(rs) < len(ops) {
			return fmt.Errorf("%d results, want %d", len(rs), len(ops))
		}
		return nil
	})
	if c := tap.Snapshot(); c.Gets() != 0 {
		t.Errorf("itsm-sync read with %d direct gets (%v); on a cluster it reads from the leaders", c.Gets(), c.DirectGets)
	}
	for i := range tickets {
		if c, u := sn.counts(fmt.Sprint(2000 + i)); c != 1 || u != 2 {
			t.Errorf("ticket %d: %d creates, %d updates; want 1 and 2", 2000+i, c, u)
		}
	}
}
