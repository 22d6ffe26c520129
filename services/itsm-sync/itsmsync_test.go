package itsmsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
)

// A CREATE posts the rendered template, stores sys_id and number in scw_correlation,
// publishes a succeeded result with its attempt, and the ADVANCE that follows patches
// the record it created.
func TestCreateThenUpdate(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))

	create := op(events.OpITSM, "snow", "1234", events.Create, "open-change", "create", createSpec())
	g.PublishOps(nil, "", create)
	rs := g.WaitResults("scw.result.itsm.>", 1)
	r := rs[0]
	if r.Status != events.ResultSucceeded || r.OperationID != create.ID || len(r.Attempts) != 1 || r.Attempts[0].Status != http.StatusCreated {
		t.Fatalf("result = %+v", r)
	}
	if r.Correlation["sys_id"] == "" || !strings.HasPrefix(r.Correlation["number"], "CHG") {
		t.Fatalf("correlation = %v", r.Correlation)
	}
	if r.Attempts[0].Excerpt == "" || r.Attempts[0].Latency <= 0 {
		t.Errorf("attempt not recorded in full: %+v", r.Attempts[0])
	}
	kv, err := g.JS.KeyValue(context.Background(), events.BucketCorrelation)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), events.CorrelationKey("1234", "snow"))
	if err != nil || !strings.Contains(string(e.Value()), r.Correlation["sys_id"]) {
		t.Fatalf("scw_correlation 1234.snow = %v, %v", e, err)
	}
	if mark, err := (natsconn.Reader{NC: g.NC}).Last(context.Background(), events.StreamResults, events.DoneSubjects(create)...); err != nil {
		t.Fatalf("no done marker (result) for the create: %v", err)
	} else if m, _ := events.UnmarshalResult(mark.Data); !m.Done() || m.OperationID != create.ID {
		t.Fatalf("the create's done marker is %s", mark.Data)
	}

	update := op(events.OpITSM, "snow", "1234", events.Advance, "update-change", "update", updateSpec())
	g.PublishOps(nil, "", update)
	g.WaitResults("scw.result.itsm.succeeded.1234.*", 2)
	sn.mu.Lock()
	rec := sn.records[r.Correlation["sys_id"]]
	sn.mu.Unlock()
	if len(rec.Updates) != 1 || !strings.Contains(rec.Updates[0], "Step Business Approval done ("+r.Correlation["number"]+")") {
		t.Fatalf("updates = %q", rec.Updates)
	}
	if c, u := sn.counts("1234"); c != 1 || u != 1 {
		t.Fatalf("creates %d, updates %d", c, u)
	}
}

// 429 with Retry-After: 2 → the next attempt comes no sooner than 2 s later (measured
// at the server), and the result lists both attempts.
func TestRetryAfterHonoured(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	var calls atomic.Int32
	var first, second atomic.Int64
	sn.setFault(func(r *http.Request, _ []byte) (int, http.Header) {
		switch calls.Add(1) {
		case 1:
			first.Store(time.Now().UnixNano())
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}
		case 2:
			second.Store(time.Now().UnixNano())
		}
		return 0, nil
	})
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))
	g.PublishOps(nil, "", op(events.OpITSM, "snow", "77", events.Create, "open-change", "create", createSpec()))
	r := g.WaitResults("scw.result.itsm.>", 1)[0]
	if r.Status != events.ResultSucceeded {
		t.Fatalf("result = %+v", r)
	}
	if waited := time.Duration(second.Load() - first.Load()); waited < 2*time.Second {
		t.Fatalf("second attempt %s after the 429; Retry-After asked for 2s", waited)
	}
	// The second delivery asks first whether the create went through (lookup-before-create).
	if as := requests(r); len(as) != 2 || as[0].Status != 429 || !as[0].Transient || as[1].Status != 201 || !r.Attempts[1].Lookup {
		t.Fatalf("attempts = %+v", r.Attempts)
	}
}

// An HTTP-date Retry-After is honoured too, and clamped to retry.max_retry_after.
func TestRetryAfterDateClamped(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	var calls atomic.Int32
	var first, second atomic.Int64
	sn.setFault(func(r *http.Request, _ []byte) (int, http.Header) {
		switch calls.Add(1) {
		case 1:
			first.Store(time.Now().UnixNano())
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}
		case 2:
			second.Store(time.Now().UnixNano())
		}
		return 0, nil
	})
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, func(s *config.Server) { s.Retry.MaxRetryAfter = time.Second })))
	g.PublishOps(nil, "", op(events.OpITSM, "snow", "78", events.Create, "open-change", "create", createSpec()))
	r := g.WaitResults("scw.result.itsm.>", 1)[0]
	if r.Status != events.ResultSucceeded || len(requests(r)) != 2 {
		t.Fatalf("result = %+v", r)
	}
	if waited := time.Duration(second.Load() - first.Load()); waited < 900*time.Millisecond {
		t.Fatalf("second attempt %s after the 503; the clamped Retry-After asked for 1s", waited)
	}
}

// Each retry class: 5xx, 408 and network errors are retried up to retry.attempts, then
// the operation is dead-lettered with its error and a failed result lists every attempt.
func TestTransientExhaustedDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
	}{{"503", 503}, {"500", 500}, {"408", 408}, {"429", 429}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := natstest.RunJetStream(t)
			sn := newSnow(t)
			sn.setFault(func(*http.Request, []byte) (int, http.Header) { return tc.status, nil })
			g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, func(s *config.Server) { s.Breaker.Failures = -1 })))
			o := op(events.OpITSM, "snow", "90", events.Create, "open-change", "create", createSpec())
			o.Spec = mustJSON(events.ITSMSpec{Server: "snow", Method: "POST", Path: snowPath, Body: `{"a":"#ticket_id#"}`})
			g.PublishOps(nil, "", o)
			r := g.WaitResults("scw.result.itsm.failed.90.*", 1)[0]
			if len(r.Attempts) != 4 || !strings.Contains(r.Error, "gave up after 4 attempts") || !strings.Contains(r.Error, fmt.Sprint(tc.status)) {
				t.Fatalf("result = %+v", r)
			}
			for _, a := range r.Attempts {
				if a.Status != tc.status || !a.Transient {
					t.Errorf("attempt %+v", a)
				}
			}
			dl := g.WaitMsgs(events.StreamDLQ, "scw.dlq.itsm-sync.90", 1)
			if len(dl) != 1 || !strings.Contains(dl[0].Header.Get(events.HdrError), "gave up") ||
				dl[0].Header.Get(events.HdrOriginalSubject) != o.StoredSubject() || dl[0].Header.Get(events.HdrAttempt) != "4" {
				t.Fatalf("dead letters = %v", dl)
			}
		})
	}
	t.Run("network", func(t *testing.T) {
		ns := natstest.RunJetStream(t)
		sn := newSnow(t)
		url := sn.URL
		sn.Close() // nothing listens any more
		g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), func(c *config.Config) {
			c.Servers["snow"] = config.Server{BaseURL: url, Breaker: config.Breaker{Failures: -1}}
		}))
		g.PublishOps(nil, "", op(events.OpITSM, "snow", "91", events.Create, "open-change", "create", createSpec()))
		r := g.WaitResults("scw.result.itsm.failed.91.*", 1)[0]
		// A create with a lookup: every delivery after the first asks first, and the
		// lookups fail too; they count against retry.attempts like any request.
		for _, a := range r.Attempts {
			if a.Status != 0 || !a.Transient {
				t.Errorf("attempt %+v", a)
			}
		}
		if len(r.Attempts) != 4 || !strings.Contains(r.Error, "gave up after 4 attempts") {
			t.Fatalf("result = %+v", r)
		}
	})
}

// Other 4xx are permanent: one attempt, dead-lettered at once; a missing placeholder
// fails the operation before anything is sent, naming the placeholder.
func TestPermanentFailures(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	sn.failBodies("bad-request", http.StatusBadRequest)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))
	bad := op(events.OpITSM, "snow", "100", events.Create, "r", "bad", events.ITSMSpec{Server: "snow", Method: "POST", Path: snowPath, Body: `{"x":"bad-request"}`})
	missing := op(events.OpITSM, "snow", "101", events.Create, "r", "missing", events.ITSMSpec{Server: "snow", Method: "POST", Path: snowPath, Body: `{"x":"#no_such_placeholder#"}`})
	g.PublishOps(nil, "", bad, missing)
	r := g.WaitResults("scw.result.itsm.failed.100.*", 1)[0]
	if len(r.Attempts) != 1 || r.Attempts[0].Status != 400 || r.Attempts[0].Transient {
		t.Fatalf("400: %+v", r)
	}
	r = g.WaitResults("scw.result.itsm.failed.101.*", 1)[0]
	if len(r.Attempts) != 0 || !strings.Contains(r.Error, "#no_such_placeholder#") {
		t.Fatalf("missing placeholder: %+v", r)
	}
	if n := len(g.WaitMsgs(events.StreamDLQ, "scw.dlq.itsm-sync.*", 2)); n != 2 {
		t.Fatalf("%d dead letters, want 2", n)
	}
	if sn.totalCreates() != 0 {
		t.Fatal("a failed operation created a record")
	}
}

// A replay (the same operation as a new message) is not sent again; with Scw-Force it is.
func TestReplayNotSentTwiceUnlessForced(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))
	o := op(events.OpITSM, "snow", "200", events.Create, "open-change", "create", createSpec())
	g.PublishOps(nil, "", o)
	g.WaitResults("scw.result.itsm.>", 1)
	g.PublishOps(nil, "-replay", o)
	// The replay is consumed (the consumer's pending count drops to zero) and skipped.
	waitConsumed(t, g, laneOf(o))
	if c, _ := sn.counts("200"); c != 1 {
		t.Fatalf("%d creates after a replay, want 1", c)
	}
	g.PublishOps(map[string]string{events.HdrForce: "true"}, "-forced", o)
	g.WaitResults("scw.result.itsm.>", 2)
	if c, _ := sn.counts("200"); c != 2 {
		t.Fatalf("%d creates after a forced replay, want 2", c)
	}
}

// holdAfterSend is a hook that, once an operation was sent, says so on sent and holds its
// message until the process stops (the stop's deadline cuts it off).
func holdAfterSend() (*itsmsync.Hooks, chan struct{}) {
	sent := make(chan struct{}, 1)
	return &itsmsync.Hooks{AfterSend: func(ctx context.Context, _ events.Operation) {
		sent <- struct{}{}
		<-ctx.Done()
	}}, sent
}

// waitSent waits until holdAfterSend's operation was sent.
func waitSent(t *testing.T, sent <-chan struct{}) {
	t.Helper()
	select {
	case <-sent:
	case <-time.After(2 * time.Minute):
		t.Fatal("the create was never sent")
	}
}

// The process "dies" after the server's 201 and before anything is recorded or acked.
// A second instance gets the redelivery, asks the server first (lookup-before-create),
// finds the record and does not create it again.
func TestKilledBetweenSendAndAck(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	hooks, sent := holdAfterSend()
	short := func(c *config.Config) {
		withSnow(sn, func(s *config.Server) { s.Timeout = 200 * time.Millisecond })(c)
		c.ITSMSync.AckWait = 2 * time.Second
		c.Shutdown.DrainTimeout = 100 * time.Millisecond
	}
	first := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), short), fx.Supply(hooks))
	o := op(events.OpITSM, "snow", "300", events.Create, "open-change", "create", createSpec())
	first.PublishOps(nil, "", o)
	waitSent(t, sent)
	first.Stop() // cut off by the stop's deadline: no done marker, no result; handed back

	second := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), short))
	r := second.WaitResults("scw.result.itsm.>", 1)[0]
	if r.Status != events.ResultSucceeded || r.Correlation["sys_id"] == "" {
		t.Fatalf("result = %+v", r)
	}
	if c, _ := sn.counts("300"); c != 1 {
		t.Fatalf("the server saw %d creates, want exactly 1", c)
	}
	// The cut-off create is in the history, its outcome unknown; the redelivery looked
	// the record up and found it.
	if len(r.Attempts) != 2 || !r.Attempts[0].Unknown || r.Attempts[0].Lookup || !r.Attempts[1].Lookup || r.Attempts[1].Status != 200 {
		t.Fatalf("the redelivery did not look up first: %+v", r.Attempts)
	}
}

// TestCutOffHandedBackAcrossServerRestart: an operation cut off by a stop is handed back
// so that the next instance gets it at once even when the NATS server restarted in
// between, as the embedded server of `triggerflow all` does with its process; not after
// the consumer's AckWait (here 10 minutes, far beyond WaitResults' patience). A plain NAK
// only queues the message in the server's memory; a NAK with a delay is written to the
// consumer's stored state.
func TestCutOffHandedBackAcrossServerRestart(t *testing.T) {
	ns := natstest.StartProcess(t)
	sn := newSnow(t)
	hooks, sent := holdAfterSend()
	long := func(c *config.Config) {
		withSnow(sn, nil)(c)
		c.ITSMSync.AckWait = 10 * time.Minute
		c.Shutdown.DrainTimeout = 100 * time.Millisecond
	}
	first := testrig.Start(t, "itsm-sync", testConfig(ns.URL(), long), fx.Supply(hooks))
	o := op(events.OpITSM, "snow", "310", events.Create, "open-change", "create", createSpec())
	first.PublishOps(nil, "", o)
	waitSent(t, sent)
	first.Stop()
	ns.Stop()
	ns.Start()
	second := testrig.Start(t, "itsm-sync", testConfig(ns.URL(), long))
	if r := second.WaitResults("scw.result.itsm.>", 1)[0]; r.Status != events.ResultSucceeded {
		t.Fatalf("result = %+v", r)
	}
	if c, _ := sn.counts("310"); c != 1 {
		t.Fatalf("the server saw %d creates, want exactly 1", c)
	}
}

// An update behind its create in its lane finds the create's sys_id; an update whose
// create never stored one fails at once, saying so (no waiting: nothing before it in its
// lane is left to store it).
func TestUpdateAfterItsCreate(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))
	create := op(events.OpITSM, "snow", "400", events.Create, "open-change", "create", createSpec())
	update := op(events.OpITSM, "snow", "400", events.Advance, "update-change", "update", updateSpec())
	g.PublishOps(nil, "", create, update)
	g.WaitResults("scw.result.itsm.succeeded.400.*", 2)
	if ev := sn.eventLog(); len(ev) != 2 || ev[0] != "create 400" || ev[1] != "update 400" {
		t.Fatalf("server saw %v", ev)
	}

	g.PublishOps(nil, "", op(events.OpITSM, "snow", "401", events.Advance, "update-change", "update", updateSpec()))
	r := g.WaitResults("scw.result.itsm.failed.401.*", 1)[0]
	if !strings.Contains(r.Error, "sys_id") || !strings.Contains(r.Error, "no earlier operation stored") || !r.Parks || len(r.Attempts) != 0 {
		t.Fatalf("result = %+v", r)
	}
}

// groupApproval: a permanent failure of one operation of a group cancels the ones not
// yet done.
func TestGroupFailureCancelsTheRest(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	sn.failBodies("refuse", http.StatusUnprocessableEntity)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))
	a := op(events.OpITSM, "snow", "500", events.Create, "r", "a", events.ITSMSpec{Server: "snow", Method: "POST", Path: snowPath, Body: `{"x":"refuse"}`})
	b := op(events.OpITSM, "snow", "500", events.Create, "r", "b", events.ITSMSpec{Server: "snow", Method: "POST", Path: snowPath, Body: `{"u_securechange_ticket":"500"}`})
	a.Group, b.Group = "firewall-change", "firewall-change"
	g.PublishOps(nil, "", a)
	g.WaitResults("scw.result.itsm.failed.500.*", 1)
	g.PublishOps(nil, "", b)
	r := g.WaitResults("scw.result.itsm.skipped.500.*", 1)[0]
	if r.OperationID != b.ID || !strings.Contains(r.Reason, "firewall-change") {
		t.Fatalf("result = %+v", r)
	}
	if sn.totalCreates() != 0 {
		t.Fatal("a cancelled operation was sent")
	}
}

// laneOf is the durable consumer (lane) of an operation.
func laneOf(o events.Operation) string {
	return fmt.Sprintf("itsm-sync-%s-p%02d", o.Target, events.Partition(o.Ticket))
}

// waitConsumed polls until the durable consumer has nothing pending or unacknowledged.
func waitConsumed(t testing.TB, g *testrig.Rig, durable string) {
	t.Helper()
	natstest.CheckFor(t, 120*time.Second, 25*time.Millisecond, func() error {
		info, err := consumerInfo(g, durable)
		if err == nil && (info.NumPending != 0 || info.NumAckPending != 0) {
			err = fmt.Errorf("%s: %d pending, %d unacknowledged", durable, info.NumPending, info.NumAckPending)
		}
		return err
	})
}

// consumerInfo reads a durable consumer's state on SCW_OPS.
func consumerInfo(g *testrig.Rig, durable string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := g.JS.Consumer(ctx, events.StreamOps, durable)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// requests are a result's attempts for the operation itself (not lookups).
func requests(r events.Result) []events.Attempt {
	var out []events.Attempt
	for _, a := range r.Attempts {
		if !a.Lookup {
			out = append(out, a)
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// 401 from a server with basic auth is permanent (one attempt, dead-lettered) and the
// password appears nowhere: not in the result, the dead letter or the logs.
func TestUnauthorizedIsPermanentAndSecretFree(t *testing.T) {
	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	sn.auth = func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "integration" && p == "right-password"
	}
	t.Setenv("SNOW_TEST_PASSWORD", "wrong-password-123")
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, func(s *config.Server) {
		s.Auth.Basic = &config.BasicAuth{User: "integration", PasswordEnv: "SNOW_TEST_PASSWORD"}
	})))
	g.PublishOps(nil, "", op(events.OpITSM, "snow", "700", events.Create, "open-change", "create", createSpec()))
	r := g.WaitResults("scw.result.itsm.failed.700.*", 1)[0]
	if len(r.Attempts) != 1 || r.Attempts[0].Status != http.StatusUnauthorized || r.Attempts[0].Transient {
		t.Fatalf("result = %+v", r)
	}
	dl := g.WaitMsgs(events.StreamDLQ, "scw.dlq.itsm-sync.700", 1)
	b, _ := json.Marshal(r)
	for where, text := range map[string]string{"result": string(b), "dead letter": fmt.Sprint(dl[0].Header), "logs": g.Logs.String()} {
		if strings.Contains(text, "wrong-password-123") {
			t.Errorf("the password leaks into the %s", where)
		}
	}
}
