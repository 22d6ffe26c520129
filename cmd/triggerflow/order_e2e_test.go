package main_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// The ordering tests: each ticket's CREATE, ADVANCE, ADVANCE, CLOSE, sent ~1.5 s apart
// through the seed mediator while the ITSM server still works on the create (1–3 s),
// must reach the ITSM server exactly once each and in that order — across SIGTERM
// restarts and a SIGKILL of itsm-sync replicas (TestOrderAcrossRestarts) and across a
// 60 s ITSM outage (TestOrderThroughOutage). Everything runs as real processes: a
// nats-server, `triggerflow ingress`, `dispatcher`, two `itsm-sync` replicas and the
// `notifier`; the ITSM server (itsm_fixture_test.go) records the order requests arrive in.
// The config is pipelineConfig (one place) in itsm_fixture_test.go.

const (
	triggerGap   = 1500 * time.Millisecond // between the triggers of one ticket
	settleWithin = 5 * time.Minute         // generous: a slow CI machine, ack_wait redeliveries
)

// notBefore paces the scenario (not a wait for a result).
func notBefore(at time.Time) {
	if d := time.Until(at); d > 0 {
		time.Sleep(d)
	}
}

// startWorkload runs wl in the background; the returned channel is closed when every
// trigger was sent. The test waits for it at cleanup, so no goroutine outlives the test.
func startWorkload(t *testing.T, pl *pipeline, wl *workload) (<-chan struct{}, time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); wl.run(ctx, t, pl.runner) }()
	t.Cleanup(func() { cancel(); <-done })
	return done, start
}

func waitWorkload(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the workload did not finish sending within 5 minutes")
	}
}

// waitCreatesInFlight waits for want creates in flight on replica, settling for one
// after a while (the load is ~1 create in flight per replica on average), and for any
// request in flight there once the workload's creates have all been sent or after 20 s
// (a slow, loaded machine shifts the work in time; the signal must still land while the
// replica is working). When the workload has ended and nothing has been in flight anywhere
// for 30 s, there is nothing left to catch: the signal lands on an idle replica, which the
// test says, and the checks that follow (everything settled, in order, once) decide.
func waitCreatesInFlight(t *testing.T, pl *pipeline, name string, want int, wlDone <-chan struct{}) {
	t.Helper()
	start := time.Now()
	idle := false
	defer func() {
		if idle {
			t.Logf("the workload ended and nothing was in flight anywhere for 30 s: the signal to %s lands on an idle replica", name)
		}
	}()
	natstest.CheckFor(t, 2*time.Minute, 5*time.Millisecond, func() error {
		got := pl.itsm.InFlight(name, "create")
		if got >= want || (got >= 1 && time.Since(start) > 10*time.Second) {
			return nil
		}
		if time.Since(start) > 20*time.Second && pl.itsm.InFlight(name, "") > 0 {
			return nil
		}
		select {
		case <-wlDone:
			if pl.itsm.InFlight(name, "") > 0 {
				return nil
			}
			if pl.itsm.InFlight("", "") == 0 && time.Since(start) > 30*time.Second {
				idle = true
				return nil
			}
		default:
		}
		return fmt.Errorf("replica %s has %d creates in flight", name, got)
	})
}

// TestOrderAcrossRestarts: 50 tickets; replica A is restarted with SIGTERM twice and
// replica B killed with SIGKILL once (and started again), each time while it has creates
// in flight at the ITSM server. Per ticket: exactly one create, the updates in trigger
// order, after the create, none overlapping, none lost; no duplicate but exact resends
// right after the SIGKILL; no request cut off by a SIGTERM; a succeeded result for every
// operation, no dead letter.
func TestOrderAcrossRestarts(t *testing.T) {
	const seed = 20251204
	t0 := time.Now()
	itsm := newITSMFixture(t, t0, seed)
	pl := startPipeline(t, itsm, "A", "B")
	wl := newWorkload(t, t0, 50, 7000, 45*time.Second, triggerGap, seed)
	var signals []signalEvent
	t.Cleanup(func() {
		if t.Failed() {
			reqs := itsm.Requests()
			analyze(wl, reqs, signals).timelines(t, wl, reqs, signals, 12)
		}
	})
	t.Logf("pipeline up after %s (seed %d)", time.Since(t0).Round(time.Millisecond), seed)

	wlDone, wlStart := startWorkload(t, pl, wl)
	for _, s := range []struct {
		after   time.Duration
		replica string
		sig     syscall.Signal
	}{
		{8 * time.Second, "A", syscall.SIGTERM},
		{20 * time.Second, "A", syscall.SIGTERM},
		{30 * time.Second, "B", syscall.SIGKILL},
	} {
		notBefore(wlStart.Add(s.after))
		waitCreatesInFlight(t, pl, s.replica, 2, wlDone)
		ev := pl.signal(s.replica, s.sig)
		signals = append(signals, ev)
		restartAt := time.Now()
		pl.restart(s.replica)
		t.Logf("%s to %s at %+.1fs (%d ITSM requests in flight there); exited after %s, ready again after %s",
			ev.name(), s.replica, ev.At.Sub(t0).Seconds(), len(ev.InFlight), ev.ExitAfter.Round(time.Millisecond), time.Since(restartAt).Round(time.Millisecond))
	}
	waitWorkload(t, wlDone)
	sentIn := time.Since(wlStart)
	pl.waitSettled(wl, settleWithin)
	t.Logf("workload sent in %s; settled %s after the start of the workload", sentIn.Round(time.Millisecond), time.Since(wlStart).Round(time.Millisecond))

	reqs := itsm.Requests()
	t.Logf("ITSM server: %s", reqStats(reqs))
	termCut := signalReport(t, wl, reqs, signals)
	a := analyze(wl, reqs, signals)
	t.Logf("result: %s; %d in-flight requests cut off by the SIGTERMs", a.summary(), termCut)
	pl.checkOutcomes(wl)
	a.assert(t)
	if termCut > 0 {
		t.Errorf("the SIGTERMs cut off %d ITSM requests in flight (a graceful stop lets them finish)", termCut)
	}
}

// TestOrderThroughOutage: 20 tickets; in the middle of the run the ITSM server is
// unavailable for 60 s, in two ways (one subtest each):
//   - "503": it answers every request 503 with Retry-After: 5 (ServiceNow under
//     maintenance or overloaded; the answer triggerflow must honour);
//   - "refused": its listener is closed, so connections are refused, after the requests
//     in flight were answered (a node taken out of service), then it listens again on
//     the same port. Requests in flight are let finish rather than cut, because a cut
//     create without a lookup is a duplicate no fix can avoid, which is not what this
//     test is about.
//
// Per ticket: the order is kept, everything is delivered exactly once after recovery,
// no dead letters.
func TestOrderThroughOutage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refused bool
	}{
		{"503", false},
		{"refused", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const seed = 20251205
			const outage = 60 * time.Second
			t0 := time.Now()
			itsm, pl, wl := startOrderRun(t, t0, seed, pipelineOptions{}, 20, 8000, 36*time.Second)

			wlDone, wlStart := startWorkload(t, pl, wl)
			notBefore(wlStart.Add(10 * time.Second))
			downAt := time.Now()
			before := len(itsm.Requests())
			if tc.refused {
				took := itsm.Down(t)
				t.Logf("ITSM down (connections refused) at %+.1fs; the requests in flight took %s to finish", downAt.Sub(t0).Seconds(), took.Round(time.Millisecond))
			} else {
				itsm.SetUnavailable(true)
				t.Logf("ITSM answering 503 from %+.1fs", downAt.Sub(t0).Seconds())
			}
			notBefore(downAt.Add(outage))
			if tc.refused {
				itsm.Up(t)
			} else {
				itsm.SetUnavailable(false)
			}
			upAt := time.Now()
			during := itsm.Requests()[before:]
			seen := reqStats(during)
			if tc.refused {
				seen += " (refused connections never reach the server: see the failed attempts in the outcomes below)"
			}
			t.Logf("ITSM back at %+.1fs after %s; during the outage the server saw %s", upAt.Sub(t0).Seconds(), upAt.Sub(downAt).Round(time.Millisecond), seen)

			waitWorkload(t, wlDone)
			pl.waitSettled(wl, settleWithin)
			t.Logf("workload started at %+.1fs; settled %s after the ITSM came back", wlStart.Sub(t0).Seconds(), time.Since(upAt).Round(time.Millisecond))

			pl.verify(wl)
		})
	}
}

// TestOrderThroughDispatcherKilled: the dispatcher killed with SIGKILL three times in the
// middle of the workload and started again at once. A trigger it held (planned or not,
// its operations stored or not) is redelivered after dispatcher.ack_wait (5 s here) and
// planned again, its operations' ids deduplicated by the stream; the later triggers of
// its ticket wait in its lane meanwhile. Per ticket one create, the updates in order,
// none lost, none sent twice.
func TestOrderThroughDispatcherKilled(t *testing.T) {
	const seed = 20251208
	t0 := time.Now()
	_, pl, wl := startOrderRun(t, t0, seed, pipelineOptions{dispatcherAckWait: 5 * time.Second}, 24, 9200, 24*time.Second)

	wlDone, wlStart := startWorkload(t, pl, wl)
	for _, after := range []time.Duration{8 * time.Second, 14 * time.Second, 20 * time.Second} {
		notBefore(wlStart.Add(after))
		at := time.Now()
		pl.kill9("dispatcher")
		t.Logf("SIGKILL to the dispatcher at %+.1fs; ready again after %s", at.Sub(t0).Seconds(), time.Since(at).Round(time.Millisecond))
	}
	waitWorkload(t, wlDone)
	pl.waitSettled(wl, settleWithin)
	t.Logf("settled %s after the start of the workload", time.Since(wlStart).Round(time.Millisecond))
	pl.verify(wl)
}

// startOrderRun is an ordering test's start: the ITSM fixture, the pipeline (opts;
// itsm-sync replicas A and B), a workload of n tickets from firstID whose first
// triggers are spread over spread, and the tickets' timelines printed if the test fails.
func startOrderRun(t *testing.T, t0 time.Time, seed uint64, opts pipelineOptions, n, firstID int, spread time.Duration) (*itsmFixture, *pipeline, *workload) {
	t.Helper()
	itsm := newITSMFixture(t, t0, seed)
	pl := startPipelineWith(t, itsm, opts, "A", "B")
	wl := newWorkload(t, t0, n, firstID, spread, triggerGap, seed)
	pl.timelinesOnFailure(wl)
	t.Logf("pipeline up after %s (seed %d)", time.Since(t0).Round(time.Millisecond), seed)
	return itsm, pl, wl
}
