package main_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// The ordering test on the production topology (deploy/k8s/overlays/production): a
// 3-node JetStream cluster of nats-server processes with every stream and bucket at
// nats.replicas: 3, the services as processes each connected to a node of its own
// (clusterNode in itsm_fixture_test.go: a ticket's trigger is stored through one node,
// planned through another, its operations run through a third), and a node killed with
// SIGKILL in the middle of the workload, then started again over its store. What must
// hold is what TestOrderAcrossRestarts checks, with no SIGKILL of a service to excuse a
// resend: per ticket exactly one create, the updates in trigger order, none lost, none
// sent twice; a succeeded result for every operation, no dead letter.

const (
	clusterNodes = 3
	// nodeKillAfter: into the workload, when every stage is busy (creates in flight at
	// the ITSM server, updates waiting behind them in their lanes).
	nodeKillAfter = 12 * time.Second
	// nodeDownFor: long enough for the survivors to elect new leaders and go on without
	// the node, and for the node to fall behind what it must catch up with at its restart.
	nodeDownFor = 12 * time.Second
)

// watchedStreams are the streams whose leaders the test reports: the operations, the
// results (the done markers and the lanes' hold markers) and the buckets every ticket's
// operations read and write (scw_correlation: the record a create stored and the updates
// address; scw_parked: lanes held back).
var watchedStreams = []string{"SCW_TRIGGERS", "SCW_OPS", "SCW_RESULTS", "KV_scw_correlation", "KV_scw_parked", "KV_scw_done", "KV_scw_attempts"}

// TestOrderThroughNodeLoss: 24 tickets through the pipeline on a 3-node cluster (fewer
// than TestOrderAcrossRestarts' 50: the mediator runs pace the workload, ~2 triggers/s
// on a 2-core machine, and the test stays near a minute). 12 s into the workload the
// node of the ingress, made to lead every stream and bucket of watchedStreams first, is
// killed with SIGKILL, taking with it those leaderships and the connections of the
// services on it, which fail over to the other nodes; it is started again 12 s later.
func TestOrderThroughNodeLoss(t *testing.T) {
	const seed = 20251206
	t0 := time.Now()
	cl := natstest.StartProcessCluster(t, clusterNodes)
	t.Logf("%d-node JetStream cluster of nats-server processes up after %s", clusterNodes, time.Since(t0).Round(time.Millisecond))
	// ack_wait 30 s (the default): above the ~8 s the survivors take to elect leaders.
	itsm, pl, wl := startOrderRun(t, t0, seed, pipelineOptions{cluster: cl, ackWait: 30 * time.Second}, 24, 9000, 24*time.Second)
	t.Logf("services on nodes: %s", pl.servicesOn(-1))
	t.Logf("leaders before: %s", pl.leaders(time.Minute))

	wlDone, wlStart := startWorkload(t, pl, wl)
	notBefore(wlStart.Add(nodeKillAfter))
	// A service gone before the kill makes the rest of the run a different test: say so,
	// and go on for what it still shows.
	if gone := pl.exited(); gone != "" {
		t.Errorf("before the node was killed, service processes had exited on their own: %s", gone)
	}
	// The node to kill: the ingress's (and itsm-sync B's), made to lead every stream a
	// trigger goes through first, so that its loss takes them all at once: the ingress's
	// publishes (SCW_TRIGGERS), the lanes (SCW_OPS), the results with the done and hold
	// markers (SCW_RESULTS) and the buckets every operation reads and writes.
	victim := pl.nodeOf["ingress"]
	pl.moveLeaders(victim, watchedStreams...)
	leaders := pl.leaderMap(time.Minute)
	led := ledBy(leaders, victim)
	inFlight := itsm.InFlight("", "")
	killAt := time.Now()
	cl.Kill(victim)
	t.Logf("SIGKILL to nats-server %s at %+.1fs (%d ITSM requests in flight); it led %s; services connected to it: %s",
		cl.Nodes[victim].Name, killAt.Sub(t0).Seconds(), inFlight, strings.Join(led, ", "), pl.servicesOn(victim))
	// Measured, not waited for: how long until the test sees the survivors lead again
	// what it led (its own connection may have to fail over first).
	natstest.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		now, err := pl.leadersNow()
		if err != nil {
			return err
		}
		for _, s := range led {
			if i, ok := now[s]; !ok || i == victim {
				return fmt.Errorf("stream %s still has no leader on a surviving node", s)
			}
		}
		return nil
	})
	t.Logf("the survivors lead everything %s led again %s after the kill: %s", cl.Nodes[victim].Name, time.Since(killAt).Round(time.Millisecond), pl.leaders(time.Minute))

	notBefore(killAt.Add(nodeDownFor))
	restartAt := time.Now()
	cl.Start(victim)
	t.Logf("nats-server %s started again at %+.1fs; healthy (caught up) after %s", cl.Nodes[victim].Name, restartAt.Sub(t0).Seconds(), time.Since(restartAt).Round(time.Millisecond))

	waitWorkload(t, wlDone)
	sentIn := time.Since(wlStart)
	pl.waitSettled(wl, settleWithin)
	t.Logf("workload sent in %s; settled %s after the start of the workload", sentIn.Round(time.Millisecond), time.Since(wlStart).Round(time.Millisecond))

	pl.verify(wl)
}

// moveLeaders makes node the leader of streams: each led elsewhere is asked to step down
// in its favour ($JS.API.STREAM.LEADER.STEPDOWN with a preferred placement), until the
// cluster reports node as the leader of every one.
func (pl *pipeline) moveLeaders(node int, streams ...string) {
	pl.t.Helper()
	name := pl.cluster.Nodes[node].Name
	req := fmt.Appendf(nil, `{"placement":{"preferred":%q}}`, name)
	natstest.CheckFor(pl.t, 2*time.Minute, 500*time.Millisecond, func() error {
		now, err := pl.leadersNow()
		if err != nil {
			return err
		}
		var elsewhere []string
		for _, s := range streams {
			if i, ok := now[s]; ok && i != node {
				elsewhere = append(elsewhere, s+" ("+pl.cluster.Nodes[i].Name+")")
				if _, err := pl.js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+s, req, 5*time.Second); err != nil {
					return fmt.Errorf("step down %s: %w", s, err)
				}
			}
		}
		if len(elsewhere) > 0 {
			return fmt.Errorf("not led by %s yet: %s", name, strings.Join(elsewhere, ", "))
		}
		return nil
	})
}

// TestOrderThroughBrokerRestart: the same workload on a lone nats-server process (the
// dev overlay, `nats.replicas: 1`), killed with SIGKILL 12 s into the workload and
// started again over its store brokerDownFor later. While it is down the ingress answers
// 503 after ingress.publish_timeout and SecureChange runs the mediator again (up to 5
// times), the runners keep trying to record what they performed, and nothing
// acknowledged is lost: per ticket one create, the updates in order, none lost, none
// sent twice.
func TestOrderThroughBrokerRestart(t *testing.T) {
	const seed = 20251207
	const brokerDownFor = 10 * time.Second
	t0 := time.Now()
	itsm, pl, wl := startOrderRun(t, t0, seed, pipelineOptions{ackWait: 30 * time.Second}, 24, 9100, 24*time.Second)

	wlDone, wlStart := startWorkload(t, pl, wl)
	notBefore(wlStart.Add(nodeKillAfter))
	inFlight := itsm.InFlight("", "")
	killAt := time.Now()
	pl.ns.Kill()
	t.Logf("SIGKILL to nats-server at %+.1fs (%d ITSM requests in flight)", killAt.Sub(t0).Seconds(), inFlight)
	notBefore(killAt.Add(brokerDownFor))
	restartAt := time.Now()
	pl.ns.Start()
	t.Logf("nats-server started again at %+.1fs; JetStream answered after %s", restartAt.Sub(t0).Seconds(), time.Since(restartAt).Round(time.Millisecond))

	waitWorkload(t, wlDone)
	pl.waitSettled(wl, settleWithin)
	t.Logf("settled %s after the start of the workload", time.Since(wlStart).Round(time.Millisecond))
	pl.verify(wl)
}

// leadersNow maps every stream to the node leading it, through the test's connection
// (which follows a lost node's clients to the survivors).
func (pl *pipeline) leadersNow() (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pl.cluster.Leaders(ctx, pl.js)
}

// leaderMap polls until every stream has a leader (an election may be going on).
func (pl *pipeline) leaderMap(timeout time.Duration) map[string]int {
	pl.t.Helper()
	var m map[string]int
	natstest.CheckFor(pl.t, timeout, 100*time.Millisecond, func() error {
		var err error
		m, err = pl.leadersNow()
		return err
	})
	return m
}

// leaders is the leaders of watchedStreams, for the log.
func (pl *pipeline) leaders(timeout time.Duration) string {
	pl.t.Helper()
	m := pl.leaderMap(timeout)
	parts := make([]string, 0, len(watchedStreams))
	for _, s := range watchedStreams {
		if i, ok := m[s]; ok {
			parts = append(parts, s+" "+pl.cluster.Nodes[i].Name)
		} else {
			parts = append(parts, s+" (no such stream)")
		}
	}
	return strings.Join(parts, ", ")
}

// ledBy lists the streams node leads, watchedStreams first.
func ledBy(leaders map[string]int, node int) []string {
	var out []string
	for s, i := range leaders {
		if i == node {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		wi, wj := slices.Index(watchedStreams, out[i]), slices.Index(watchedStreams, out[j])
		if (wi < 0) != (wj < 0) {
			return wi >= 0
		}
		if wi != wj {
			return wi < wj
		}
		return out[i] < out[j]
	})
	return out
}

// servicesOn lists the services started on node (every service with its node when node
// is -1).
func (pl *pipeline) servicesOn(node int) string {
	var parts []string
	for svc, i := range pl.nodeOf {
		switch {
		case node < 0:
			parts = append(parts, svc+" "+pl.cluster.Nodes[i].Name)
		case i == node:
			parts = append(parts, svc)
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
