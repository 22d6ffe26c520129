package notifier_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// readyz returns the status and body of the rig's /readyz.
func readyz(g *testrig.Rig) (int, string) {
	g.T().Helper()
	mux := http.NewServeMux()
	g.Health.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestAlertsConsumerDeletedRecreated: the alerts consumer (not a lane: re-created from the
// start of SCW_RESULTS) deleted while the notifier runs makes /readyz 503 until it is
// re-created; the failure stored after the deletion is alerted, the one alerted before is
// not alerted again.
func TestAlertsConsumerDeletedRecreated(t *testing.T) {
	ns := natstest.RunJetStream(t)
	srv, smtpCfg := smtpServer(t)
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = smtpCfg
		c.Notifications = config.Notifications{OnFailure: []string{"ops@example.com"}, DigestAfter: 50, DigestWindow: time.Minute}
	}))
	failed := func(i int) {
		r := events.Result{OperationID: fmt.Sprintf("op%03d", i), TriggerID: "t", Ticket: fmt.Sprint(9100 + i), Event: events.Create,
			Kind: events.OpITSM, Target: "servicenow", Route: "open-change", Action: "create", Status: events.ResultFailed,
			Error: "400 Bad Request", Attempts: make([]events.Attempt, 1)}
		b, _ := r.Marshal()
		g.Publish(natstest.NewMsg(r.Subject(), b, r.Headers(), r.ID()))
	}
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if code, body := readyz(g); code != http.StatusOK {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	failed(1)
	srv.WaitMessages(t, 1, time.Minute)

	if err := g.JS.DeleteConsumer(t.Context(), events.StreamResults, "notifier-alerts"); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, time.Minute, 5*time.Millisecond, func() error {
		if code, body := readyz(g); code != http.StatusServiceUnavailable || !strings.Contains(body, "notifier-alerts: lost (consumer deleted)") {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	failed(2)
	natstest.CheckFor(t, 2*time.Minute, 20*time.Millisecond, func() error {
		if code, body := readyz(g); code != http.StatusOK {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	srv.WaitMessages(t, 2, time.Minute)
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		c, err := g.JS.Consumer(t.Context(), events.StreamResults, "notifier-alerts")
		if err != nil {
			return err
		}
		if ci := c.CachedInfo(); ci.NumPending != 0 || ci.NumAckPending != 0 || ci.AckFloor.Stream != 2 {
			return fmt.Errorf("notifier-alerts: %d pending, %d ack pending, ack floor %d", ci.NumPending, ci.NumAckPending, ci.AckFloor.Stream)
		}
		return nil
	})
	if n := len(srv.Messages()); n != 2 {
		t.Fatalf("%d alerts, want 2: the failure alerted before the deletion was alerted again", n)
	}
}
