package outbound_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// TestRateLimit: 20 requests per second with burst 1 spaces 11 requests over at least
// half a second (a lower bound only).
func TestRateLimit(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	s := newServer(t, "limited", config.Server{BaseURL: rec.URL, RateLimit: 20, Burst: 1})
	start := time.Now()
	for range 11 {
		mustDo(t, s, get)
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Fatalf("11 requests at 20/s took %s, want at least 450ms", d)
	}
}

// TestConcurrencyCap: with concurrency 2, ten parallel calls never have more than two
// requests in flight.
func TestConcurrencyCap(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int32
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		arrived <- struct{}{}
		<-release
		inFlight.Add(-1)
	})
	s := newServer(t, "capped", config.Server{BaseURL: rec.URL, Concurrency: 2})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := do(t, s, get); err != nil {
				t.Error(err)
			}
		})
	}
	<-arrived
	<-arrived
	select { // two are held; a third must not arrive
	case <-arrived:
		t.Errorf("a third request arrived while two were in flight")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	if m := most.Load(); m != 2 {
		t.Fatalf("at most %d requests in flight, want 2", m)
	}
	if n := rec.count(); n != 10 {
		t.Fatalf("server saw %d requests, want 10", n)
	}
}

// TestBreaker: three consecutive transient failures open the breaker: the next call
// fails at once without a request, with the time until the probe; after open_for one
// probe goes through; a failed probe re-opens it, a good one closes it. (open_for is 1 s
// rather than less so that a loaded machine cannot let it lapse between two calls.)
func TestBreaker(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	s := newServer(t, "flaky", config.Server{BaseURL: rec.URL, Breaker: config.Breaker{Failures: 3, OpenFor: time.Second}})
	for i := range 3 {
		_, err := do(t, s, get)
		if e := asError(t, err); e.Status != 503 || e.BreakerOpen {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := do(t, s, get)
	e := asError(t, err)
	if !e.BreakerOpen || e.Class != outbound.Transient || failure.IsPermanent(err) || !e.HasRetryAfter || e.RetryAfter <= 0 || e.RetryAfter > time.Second {
		t.Fatalf("4th call: %+v", e)
	}
	if d, ok := failure.RetryAfter(err); !ok || d != e.RetryAfter {
		t.Fatalf("failure.RetryAfter = %v %v", d, ok)
	}
	if rec.count() != 3 || s.BreakerState() != "open" {
		t.Fatalf("server saw %d requests, breaker %s; want 3, open", rec.count(), s.BreakerState())
	}

	// a failed probe opens it again
	natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		_, _ = do(t, s, get)
		if n := rec.count(); n != 4 {
			return fmt.Errorf("%d requests, waiting for a probe (the 4th)", n)
		}
		return nil
	})
	if _, err := do(t, s, get); !asError(t, err).BreakerOpen || rec.count() != 4 {
		t.Fatalf("after a failed probe: %v (requests %d)", err, rec.count())
	}

	healthy.Store(true)
	natstest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		_, err := do(t, s, get)
		return err // nil once a probe was good
	})
	if s.BreakerState() != "closed" || rec.count() != 5 {
		t.Fatalf("breaker %s after %d requests, want closed after 5", s.BreakerState(), rec.count())
	}
}

// TestBreakerCountsOnlyTransient: permanent failures are answers, not outages; and -1
// disables the breaker.
func TestBreakerCountsOnlyTransient(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusBadRequest)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	s := newServer(t, "picky", config.Server{BaseURL: rec.URL, Breaker: config.Breaker{Failures: 2, OpenFor: time.Hour}})
	for range 5 {
		if _, err := do(t, s, get); asError(t, err).BreakerOpen {
			t.Fatal("permanent failures opened the breaker")
		}
	}
	status.Store(http.StatusBadGateway)
	for range 2 {
		_, _ = do(t, s, get)
	}
	if _, err := do(t, s, get); !asError(t, err).BreakerOpen {
		t.Fatalf("two 502s did not open the breaker: %v", err)
	}

	off := newServer(t, "nobreaker", config.Server{BaseURL: rec.URL, Breaker: config.Breaker{Failures: -1}})
	for range 10 {
		if _, err := do(t, off, get); asError(t, err).BreakerOpen {
			t.Fatal("a disabled breaker opened")
		}
	}
	if off.BreakerState() != "closed" {
		t.Fatalf("disabled breaker state %q", off.BreakerState())
	}
}
