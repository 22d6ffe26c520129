package runnertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// cases is the table of outcomes every target must settle the same way.
var cases = []struct {
	name string
	run  func(t *testing.T, g *rig)
}{
	{"success, then a replay is not performed again unless forced", func(t *testing.T, g *rig) {
		o := g.op("101", "a")
		g.publish(t, nil, "", o)
		r := g.waitResults(t, "succeeded", "101", 1)[0]
		if r.OperationID != o.ID || len(r.Attempts) != 1 || r.Correlation["n"] != "1" {
			t.Fatalf("result %+v", r)
		}
		if m, err := g.marker(t, o); err != nil || m.OperationID != o.ID || m.Status != events.ResultSucceeded {
			t.Fatalf("the done marker is not the result: %+v, %v", m, err)
		}
		g.publish(t, nil, "-replay", o)
		g.idle(t)
		if n := len(g.script.runsOf(o.ID)); n != 1 {
			t.Fatalf("a replay was performed again: %d runs", n)
		}
		g.publish(t, map[string]string{events.HdrForce: "true"}, "-forced", o)
		rs := g.waitResults(t, "succeeded", "101", 2)
		if runs := g.script.runsOf(o.ID); len(runs) != 2 || !runs[1].forced || !rs[1].Forced {
			t.Fatalf("a forced replay: runs %+v, result %+v", runs, rs[1])
		}
	}},
	{"a replay of a done operation is not performed: a skipped result and a log line; a forced replay is performed, forced", func(t *testing.T, g *rig) {
		o := g.op("111", "a")
		g.publish(t, nil, "", o)
		g.waitResults(t, "succeeded", "111", 1)
		g.publish(t, map[string]string{events.HdrReplay: "r1"}, ".replay.r1", o)
		s := g.waitResults(t, "skipped", "111", 1)[0]
		if s.OperationID != o.ID || s.Reason != "already done; replayed without --force" || s.Forced {
			t.Fatalf("skipped result %+v", s)
		}
		if n := len(g.script.runsOf(o.ID)); n != 1 {
			t.Fatalf("a replay without force was performed: %d runs", n)
		}
		if l := g.logs.String(); !strings.Contains(l, "already done; not performed again") || !strings.Contains(l, "replay=r1") || !strings.Contains(l, o.ID) {
			t.Fatalf("no log line for the skipped replay:\n%s", l)
		}
		if m, err := g.marker(t, o); err != nil || !m.Done() {
			t.Fatalf("the operation is no longer done after a skipped replay: %+v, %v", m, err)
		}
		g.publish(t, map[string]string{events.HdrReplay: "r2", events.HdrForce: "true"}, ".replay.r2", o)
		rs := g.waitResults(t, "succeeded", "111", 2)
		if runs := g.script.runsOf(o.ID); len(runs) != 2 || !runs[1].forced || !rs[1].Forced {
			t.Fatalf("a forced replay: runs %+v, result %+v", runs, rs[1])
		}
		g.idle(t)
		if n := len(g.results(t, "skipped", "111")); n != 1 {
			t.Fatalf("%d skipped results, want 1", n)
		}
	}},
	{"transient failures are retried with backoff, every attempt in the result", func(t *testing.T, g *rig) {
		o := g.op("102", "a")
		g.script.set(o.ID, func(_ context.Context, _ *runner.Job, n int) error {
			if n < 3 {
				return errors.New("injected 503")
			}
			return nil
		})
		g.publish(t, nil, "", o)
		r := g.waitResults(t, "succeeded", "102", 1)[0]
		runs := g.script.runsOf(o.ID)
		if len(runs) != 3 || len(r.Attempts) != 3 || !r.Attempts[0].Transient || r.Attempts[2].Error != "" {
			t.Fatalf("runs %d, result %+v", len(runs), r)
		}
		for i, d := range gaps(runs) {
			if min := time.Duration(float64(retry.Backoff<<i) * 0.79); d < min {
				t.Errorf("retry %d came %s after the failure, want the backoff (≥ %s)", i+1, d, min)
			}
		}
		if !runs[1].unknown {
			t.Error("a redelivery after an attempt is not marked as of unknown outcome (no lookup would run)")
		}
	}},
	{"a server's Retry-After is honoured", func(t *testing.T, g *rig) {
		o := g.op("103", "a")
		g.script.set(o.ID, func(_ context.Context, _ *runner.Job, n int) error {
			if n == 1 {
				return failure.WithRetryAfter(errors.New("injected 429"), 1500*time.Millisecond)
			}
			return nil
		})
		g.publish(t, nil, "", o)
		g.waitResults(t, "succeeded", "103", 1)
		if d := gaps(g.script.runsOf(o.ID)); len(d) != 1 || d[0] < 1500*time.Millisecond {
			t.Fatalf("retried after %v, the server asked for 1.5s", d)
		}
	}},
	{"exhausted retries fail, dead-letter and park the lane", func(t *testing.T, g *rig) {
		o := g.op("104", "a")
		g.script.set(o.ID, func(context.Context, *runner.Job, int) error { return errors.New("injected 500") })
		g.publish(t, nil, "", o)
		r := g.waitResults(t, "failed", "104", 1)[0]
		if len(g.script.runsOf(o.ID)) != retry.Attempts || !errContains(r.Error, fmt.Sprintf("gave up after %d attempts", retry.Attempts)) || !r.Parks {
			t.Fatalf("result %+v after %d runs", r, len(g.script.runsOf(o.ID)))
		}
		checkDeadLetter(t, g, o, "injected 500")
	}},
	{"an outage of the destination is not counted against retry.attempts", func(t *testing.T, g *rig) {
		o := g.op("105", "a")
		g.script.set(o.ID, func(_ context.Context, _ *runner.Job, n int) error {
			if n <= 2*retry.Attempts {
				return failure.Outage(errors.New("injected: connection refused"))
			}
			return nil
		})
		g.publish(t, nil, "", o)
		r := g.waitResults(t, "succeeded", "105", 1)[0]
		if n := len(g.script.runsOf(o.ID)); n != 2*retry.Attempts+1 || !r.Attempts[0].Outage {
			t.Fatalf("%d runs, result %+v", n, r)
		}
	}},
	{"a permanent failure is not retried: failed result, dead letter, the lane parked, other tickets go on; a redrive releases the parked in order", func(t *testing.T, g *rig) {
		head, later1, later2 := g.op("106", "head"), g.op("106", "later1"), g.op("106", "later2")
		other := g.op("107", "other")
		fixed := false
		g.script.set(head.ID, func(context.Context, *runner.Job, int) error {
			if !fixed {
				return failure.Permanent(errors.New("injected 400: bad request"))
			}
			return nil
		})
		g.publish(t, nil, "", head, later1, later2, other)
		r := g.waitResults(t, "failed", "106", 1)[0]
		if len(g.script.runsOf(head.ID)) != 1 || !r.Parks || !errContains(r.Error, "injected 400") {
			t.Fatalf("result %+v", r)
		}
		checkDeadLetter(t, g, head, "injected 400")
		parked := g.waitResults(t, "parked", "106", 2)
		for i, p := range parked {
			if p.ParkedBehind != head.ID || p.OperationID != []string{later1.ID, later2.ID}[i] {
				t.Fatalf("parked %+v", p)
			}
		}
		g.waitResults(t, "succeeded", "107", 1)
		if len(g.script.runsOf(later1.ID))+len(g.script.runsOf(later2.ID)) != 0 {
			t.Fatal("an operation behind a failed one was performed")
		}
		if g.held(t, head) == 0 {
			t.Fatalf("lane %s is held but has no hold marker", head.Lane())
		}
		if n := len(natstest.Msgs(t, g.js, events.StreamParked, "scw.parked.>")); n != 2 {
			t.Fatalf("%d operations in %s, want 2", n, events.StreamParked)
		}
		// Redrive: the dead letter's payload republished where it was going, once fixed.
		fixed = true
		dl := natstest.Msgs(t, g.js, events.StreamDLQ, fmt.Sprintf("scw.dlq.%s.106", g.tg.Service))[0]
		if _, err := g.js.Publish(t.Context(), dl.Header.Get(events.HdrOriginalSubject), dl.Data); err != nil {
			t.Fatal(err)
		}
		g.waitResults(t, "succeeded", "106", 3)
		h, l1, l2 := g.script.runsOf(head.ID), g.script.runsOf(later1.ID), g.script.runsOf(later2.ID)
		if len(h) != 2 || len(l1) != 1 || len(l2) != 1 || !h[1].at.Before(l1[0].at) || !l1[0].at.Before(l2[0].at) {
			t.Fatalf("after the redrive: head %d runs, later %d and %d runs, or out of order", len(h), len(l1), len(l2))
		}
		if m, err := g.marker(t, later2); err != nil || !m.Done() {
			t.Fatalf("released operation not recorded: %+v, %v", m, err)
		}
		// The lane is free again: a new operation of the ticket runs.
		next := g.op("106", "next")
		g.publish(t, nil, "", next)
		g.waitResults(t, "succeeded", "106", 4)
		checkLaneFree(t, g, head)
	}},
	{"an operator's skip of the failed head releases what it parked", func(t *testing.T, g *rig) {
		head, later := g.op("108", "head"), g.op("108", "later")
		g.script.set(head.ID, func(context.Context, *runner.Job, int) error { return failure.Permanent(errors.New("injected 422")) })
		g.publish(t, nil, "", head, later)
		g.waitResults(t, "parked", "108", 1)
		g.publish(t, map[string]string{events.HdrSkip: "true"}, "-skip", head)
		s := g.waitResults(t, "skipped", "108", 1)[0]
		g.waitResults(t, "succeeded", "108", 1)
		if s.OperationID != head.ID || !errContains(s.Reason, "operator") || len(g.script.runsOf(head.ID)) != 1 || len(g.script.runsOf(later.ID)) != 1 {
			t.Fatalf("skip %+v; head ran %d times, later %d", s, len(g.script.runsOf(head.ID)), len(g.script.runsOf(later.ID)))
		}
		checkLaneFree(t, g, head)
	}},
	{"a held lane's hold marker lost (SCW_RESULTS' limits) is restored by the audit: what comes later still waits behind the failed one", func(t *testing.T, g *rig) {
		head, later1, later2 := g.op("131", "head"), g.op("131", "later1"), g.op("131", "later2")
		g.script.set(head.ID, func(context.Context, *runner.Job, int) error { return failure.Permanent(errors.New("injected 400")) })
		g.publish(t, nil, "", head, later1)
		g.waitResults(t, "parked", "131", 1)
		g.dropHeld(t, head)
		if err := g.run.AuditHolds(t.Context()); err != nil { // what the runner does every events.HoldRefresh
			t.Fatal(err)
		}
		if g.held(t, head) == 0 {
			t.Fatal("the audit did not restore the hold marker")
		}
		g.publish(t, nil, "", later2)
		if p := g.waitResults(t, "parked", "131", 2)[1]; p.OperationID != later2.ID || p.ParkedBehind != head.ID {
			t.Fatalf("parked %+v", p)
		}
		if n := len(g.script.runsOf(later1.ID)) + len(g.script.runsOf(later2.ID)); n != 0 {
			t.Fatalf("%d operations behind a failed one were performed", n)
		}
	}},
	{"a park record without a hold marker (left by a version before them) holds the lane from the first operation", func(t *testing.T, g *rig) {
		g.stop()
		kv, err := g.js.KeyValue(t.Context(), events.BucketParked)
		if err != nil {
			t.Fatal(err)
		}
		head, later := g.op("132", "head"), g.op("132", "later")
		rec := fmt.Sprintf(`{"head":%q,"head_route":"suite","head_action":"head","error":"injected","since":"2026-12-01T00:00:00Z"}`, head.ID)
		if _, err := kv.Create(t.Context(), head.Lane(), []byte(rec)); err != nil {
			t.Fatal(err)
		}
		g.stop = g.handlers(t, 30*time.Second) // a new version starts: it audits first
		g.publish(t, nil, "", later)
		if p := g.waitResults(t, "parked", "132", 1)[0]; p.OperationID != later.ID || p.ParkedBehind != head.ID {
			t.Fatalf("parked %+v", p)
		}
		if len(g.script.runsOf(later.ID)) != 0 || g.held(t, head) == 0 {
			t.Fatalf("the operation behind the recorded failure ran (%d), or the lane has no hold marker", len(g.script.runsOf(later.ID)))
		}
	}},
	{"a stale hold marker (a release cut short) holds nothing: the operation runs and the marker is dropped", func(t *testing.T, g *rig) {
		o := g.op("133", "a")
		m := nats.NewMsg(o.HeldSubject())
		m.Data = []byte(`{"head":"gone"}`)
		if _, err := g.js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		g.publish(t, nil, "", o)
		g.waitResults(t, "succeeded", "133", 1)
		checkLaneFree(t, g, o)
	}},
	{"the done marker (the result) not written for a while (a stream electing a leader): the runner keeps trying, and performs the operation once", func(t *testing.T, g *rig) {
		o := g.op("134", "a")
		g.pub.failResults(o.ID, 5)
		g.publish(t, nil, "", o)
		g.waitResults(t, "succeeded", "134", 1)
		g.idle(t)
		if runs := g.script.runsOf(o.ID); len(runs) != 1 {
			t.Fatalf("runs %+v: want one", runs)
		}
		if m, err := g.marker(t, o); err != nil || !m.Done() {
			t.Fatalf("no done marker in the end: %+v, %v", m, err)
		}
	}},
	{"the done marker (the result) not written within RecordFor: the message is given back, and the next delivery knows the outcome is unknown", func(t *testing.T, g *rig) {
		g.recordFor = 300 * time.Millisecond
		g.stop()
		g.stop = g.handlers(t, 30*time.Second)
		o := g.op("109", "a")
		g.pub.failResults(o.ID, -1)
		g.publish(t, nil, "", o)
		natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
			if n := len(g.script.runsOf(o.ID)); n < 2 {
				return fmt.Errorf("%d deliveries performed, want a second", n)
			}
			return nil
		})
		g.pub.failResults(o.ID, 0)
		g.waitResults(t, "succeeded", "109", 1)
		g.idle(t)
		runs := g.script.runsOf(o.ID)
		if runs[0].unknown {
			t.Fatalf("runs %+v: the first delivery's outcome was known", runs)
		}
		for i, r := range runs[1:] {
			if !r.unknown {
				t.Fatalf("runs %+v: delivery %d does not look up first", runs, i+2)
			}
		}
		if m, err := g.marker(t, o); err != nil || !m.Done() {
			t.Fatalf("no done marker in the end: %+v, %v", m, err)
		}
	}},
	{"a failed group cancels its other operations", func(t *testing.T, g *rig) {
		a, b := g.op("110", "a"), g.op("111", "b")
		b.TriggerID = a.TriggerID
		a.Group, b.Group = "cab", "cab"
		g.script.set(a.ID, func(context.Context, *runner.Job, int) error { return failure.Permanent(errors.New("injected 403")) })
		g.publish(t, nil, "", a)
		g.waitResults(t, "failed", "110", 1)
		g.publish(t, nil, "", b)
		s := g.waitResults(t, "skipped", "111", 1)[0]
		if s.OperationID != b.ID || !errContains(s.Reason, "group cab failed") || len(g.script.runsOf(b.ID)) != 0 {
			t.Fatalf("skip %+v, %d runs", s, len(g.script.runsOf(b.ID)))
		}
	}},
	{"a stop lets the operation in flight finish within the drain, and gives the rest back at once", func(t *testing.T, g *rig) {
		g.stop()
		stop := g.handlers(t, 5*time.Second)
		slow, behind := g.op("112", "slow"), g.op("112", "behind")
		started := make(chan struct{})
		g.script.set(slow.ID, func(ctx context.Context, _ *runner.Job, _ int) error {
			close(started)
			select {
			case <-time.After(time.Second): // the request completes during the drain
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		g.publish(t, nil, "", slow, behind)
		<-started
		t0 := time.Now()
		stop()
		if d := time.Since(t0); d > 4*time.Second {
			t.Errorf("the stop took %s", d)
		}
		if n := len(g.results(t, "succeeded", "112")); n != 1 || len(g.script.runsOf(behind.ID)) != 0 {
			t.Fatalf("after the stop: %d results, behind ran %d times", n, len(g.script.runsOf(behind.ID)))
		}
		// A new replica takes what was left at once: not after ack_wait.
		t1 := time.Now()
		g.handlers(t, 5*time.Second)
		g.waitResults(t, "succeeded", "112", 2)
		if d := time.Since(t1); d > 10*time.Second {
			t.Errorf("the operation left behind took %s to be taken over", d)
		}
		if n := len(g.script.runsOf(slow.ID)); n != 1 {
			t.Fatalf("the operation in flight at the stop ran %d times", n)
		}
	}},
	{"a stop's deadline cuts an operation off and gives it back: its outcome is unknown", func(t *testing.T, g *rig) {
		g.stop()
		stop := g.handlers(t, 300*time.Millisecond)
		o := g.op("113", "stuck")
		started := make(chan struct{}, 1)
		g.script.set(o.ID, func(ctx context.Context, _ *runner.Job, n int) error {
			if n == 1 {
				started <- struct{}{}
				<-ctx.Done() // a request that outlives the drain
				return ctx.Err()
			}
			return nil
		})
		g.publish(t, nil, "", o)
		<-started
		stop()
		t1 := time.Now()
		g.handlers(t, 5*time.Second)
		r := g.waitResults(t, "succeeded", "113", 1)[0]
		runs := g.script.runsOf(o.ID)
		if len(runs) != 2 || !runs[1].unknown || len(r.Attempts) != 2 || !r.Attempts[0].Unknown {
			t.Fatalf("runs %+v, result %+v", runs, r)
		}
		if d := time.Since(t1); d > 10*time.Second {
			t.Errorf("the cut-off operation took %s to be taken over", d)
		}
	}},
}

// checkDeadLetter: the operation is on scw.dlq.<service>.<ticket> with its error and where
// it was going. The runner publishes the failed result before the dead letter (the dead
// letter acks), so a test that has seen the result polls for the dead letter.
func checkDeadLetter(t *testing.T, g *rig, o events.Operation, errPart string) {
	t.Helper()
	subject := fmt.Sprintf("scw.dlq.%s.%s", g.tg.Service, o.Ticket)
	var dl []*jetstream.RawStreamMsg
	natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		if dl = natstest.Msgs(t, g.js, events.StreamDLQ, subject); len(dl) == 0 {
			return fmt.Errorf("no dead letter on %s", subject)
		}
		return nil
	})
	if len(dl) != 1 || !errContains(dl[0].Header.Get(events.HdrError), errPart) ||
		dl[0].Header.Get(events.HdrOriginalSubject) != o.StoredSubject() || dl[0].Header.Get(events.HdrService) != g.tg.Service {
		t.Fatalf("dead letters of %s: %+v", o.Ticket, dl)
	}
}

// checkLaneFree: the lane's park record is gone and nothing is left parked.
func checkLaneFree(t *testing.T, g *rig, o events.Operation) {
	t.Helper()
	kv, err := g.js.KeyValue(t.Context(), events.BucketParked)
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		if e, err := kv.Get(t.Context(), o.Lane()); !errors.Is(err, jetstream.ErrKeyNotFound) {
			if err == nil {
				return fmt.Errorf("lane %s still has a park record: %s", o.Lane(), e.Value())
			}
			return err
		}
		return nil
	})
	if n := len(natstest.Msgs(t, g.js, events.StreamParked, o.ParkedSubject())); n != 0 {
		t.Fatalf("%d operations still parked on %s", n, o.ParkedSubject())
	}
	natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		if seq := g.held(t, o); seq != 0 {
			return fmt.Errorf("lane %s still has its hold marker (sequence %d)", o.Lane(), seq)
		}
		return nil
	})
}
