//go:build unix

package dispatcher_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/health/metricstest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// TestMetricsWhileBrokerHangs: with the nats-server process frozen (SIGSTOP), /metrics
// still answers within the consumer-info timeout, reporting the last lag read and
// counting the failed read; /readyz answers 503 within its own timeout.
func TestMetricsWhileBrokerHangs(t *testing.T) {
	p := natstest.StartProcess(t)
	g := testrig.Start(t, "dispatcher", testConfig(p.URL(), nil))
	url := g.ServeHealth()
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		return metricstest.Want(g.Registry, "triggerflow_consumer_pending_messages", map[string]string{"service": "dispatcher"}, 0)
	})

	p.Pause()
	t.Cleanup(p.Resume) // before the dispatcher and the server stop
	limit := bus.ConsumerInfoTimeout + 2*time.Second
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		start := time.Now()
		code, body := get(t, url+"/metrics")
		if took := time.Since(start); took > limit {
			t.Fatalf("/metrics took %s with the broker frozen, want at most %s", took, limit)
		}
		if code != http.StatusOK {
			t.Fatalf("/metrics %d", code)
		}
		if n, _, err := metricstest.Sum(g.Registry, "triggerflow_consumer_info_errors_total", nil); err != nil || n < 1 {
			return fmt.Errorf("no failed read of the frozen broker counted yet (%v, %v)\n%.300s", n, err, body)
		}
		return nil
	})
	if _, n, err := metricstest.Sum(g.Registry, "triggerflow_consumer_pending_messages", map[string]string{"service": "dispatcher"}); err != nil || n != 16 {
		t.Errorf("lag of %d lanes reported while the broker hangs (want the 16 last read): %v", n, err)
	}
	start := time.Now()
	if code, body := get(t, url+"/readyz"); code != http.StatusServiceUnavailable || time.Since(start) > 4*time.Second { // its 2s timeout, and slack
		t.Errorf("/readyz %d after %s with the broker frozen: %s", code, time.Since(start), body)
	}
}
