package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// requestsTriggers is how many triggers TestJetStreamRequestsPerTrigger sends.
const requestsTriggers = 300

// TestJetStreamRequestsPerTrigger counts what the pipeline asks of JetStream per trigger:
// `triggerflow all` on an embedded JetStream with one route (on CREATE, one itsm POST to a
// local sink answering like ServiceNow, with its sys_id kept in scw_correlation; no
// email), requestsTriggers CREATE triggers of distinct tickets through the ingress, and a
// wire tap (natstest.Tap) on the server from just before the first trigger until every
// trigger has its result and every consumer has settled. The numbers are in the log (go
// test -run TestJetStreamRequestsPerTrigger -v ./cmd/triggerflow).
//
// It holds the pipeline to its budget (README, "What bounds it"): per
// trigger at most one publish to each of SCW_TRIGGERS, SCW_PLANS, SCW_OPS and
// SCW_RESULTS (the result is the done marker: no scw_done), one direct get (the done
// check), two plain acks (none waiting for a confirmation), and no KV write but the
// route's scw_correlation. And at most four round trips that wait for the server
// (natstest.TapTrips): the trigger's publish, the plan and operation published together,
// the done check, the result; each ack only after its handler's publishes were answered.
// The tap sees a publish sent after the answer to the one before it as a round trip of
// its own, so a plan and operation sent together but written apart by the connection
// count five: about a quarter of triggers here. A plan awaited before its operation is
// sent makes every trigger five, so the mean is held below 4.75.
func TestJetStreamRequestsPerTrigger(t *testing.T) {
	var posts atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"result":{"sys_id":"x"}}`))
	}))
	t.Cleanup(sink.Close)

	natsPort := natstest.FreePort(t)
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`log: {level: warn}
nats:
  url: ""
  embedded: {host: 127.0.0.1, port: %d, store_dir: %q}
ingress:
  listen: %q
  users: [{name: %s, password_file: %q}]
servers:
  sink: {base_url: %q, breaker: {failures: -1}}
routes:
  - name: created
    on: {event: CREATE}
    actions:
      - itsm:
          server: sink
          method: POST
          path: /api/now/table/change_request
          body: '{"short_description":"#ticket_subject#","correlation_id":"#trigger_id#"}'
          response: {correlate: {sys_id: "#result.sys_id#"}}
`, natsPort, filepath.Join(t.TempDir(), "nats"), addr, e2eUser, passwordFile(t), sink.URL)
	startTriggerflow(t, "all", cfg, addr)

	url := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	tap := natstest.Tap(t, url, natstest.TapTrips())
	xml := string(repoFile(t, "examples/tickets/create.xml"))
	ticket := func(i int) string { return strconv.Itoa(300000 + i) }

	before := tap.Snapshot()
	start := time.Now()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 8)
	)
	for range 8 { // senders: SecureChange runs its mediators in parallel too
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= requestsTriggers {
					return
				}
				body := strings.Replace(xml, "<id>1001</id>", "<id>"+ticket(i)+"</id>", 1)
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/triggers/CREATE", bytes.NewReader([]byte(body)))
				req.SetBasicAuth(e2eUser, e2ePassword)
				res, err := http.DefaultClient.Do(req)
				if err == nil {
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						err = fmt.Errorf("trigger %d: HTTP %d", i, res.StatusCode)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every trigger has its result (the tap saw the publishes: no requests of our own) …
	natstest.CheckFor(t, 90*time.Second, 20*time.Millisecond, func() error {
		if n := tap.Snapshot().Sub(before).Streams[events.StreamResults]; n < requestsTriggers {
			return fmt.Errorf("%d of %d results", n, requestsTriggers)
		}
		return nil
	})
	took := time.Since(start)
	// … and every consumer settled what it was given (the acks after the results), asked
	// on the tap's quiet connection.
	js := tap.Quiet()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		return requestsSettled(js, events.StreamTriggers, events.StreamOps)
	})
	got := tap.Snapshot().Sub(before)

	perTicket := map[string]int{}
	for _, m := range natstest.Msgs(t, js, events.StreamResults, "") {
		if !strings.Contains(string(m.Data), `"status":"succeeded"`) {
			t.Errorf("result %s: %s", m.Subject, m.Data)
		}
		perTicket[m.Header.Get(events.HdrTicketID)]++
	}
	for i := range requestsTriggers {
		if n := perTicket[ticket(i)]; n != 1 {
			t.Errorf("ticket %s has %d results, want 1", ticket(i), n)
		}
	}
	if p := posts.Load(); p != requestsTriggers {
		t.Errorf("the sink got %d POSTs, want %d", p, requestsTriggers)
	}

	n := requestsTriggers
	t.Logf("%d triggers in %s; JetStream traffic per trigger:\n%s", n, took.Round(time.Millisecond), got.Per(n))
	t.Logf("per trigger: %.2f requests, %.2f pull requests", float64(got.Requests())/float64(n), float64(got.PullRequests())/float64(n))
	trips := tap.Trips()
	t.Logf("round trips per trigger (round trips: triggers): %v, mean %.2f; acks before an answer: %d", trips.Rounds, trips.Mean(), trips.EarlyAcks)

	atMost := func(what string, got, per int) {
		if got > per*n {
			t.Errorf("%s: %.2f per trigger, want at most %d", what, float64(got)/float64(n), per)
		}
	}
	for _, s := range []string{events.StreamTriggers, events.StreamPlans, events.StreamOps, events.StreamResults} {
		atMost("publishes to "+s, got.Streams[s], 1)
	}
	atMost("stream publishes", got.StreamPublishes(), 4)
	atMost("direct gets of "+events.StreamResults, got.DirectGets[events.StreamResults], 1)
	atMost("direct gets", got.Gets(), 1)
	atMost("acks", got.Acks["+ACK"], 2)
	atMost("acks of every kind", got.AckCount(), 2)
	atMost("KV writes to "+events.BucketCorrelation, got.KV[events.BucketCorrelation], 1)
	atMost("KV writes", got.KVWrites(), 1)
	if got.AcksConfirmed != 0 {
		t.Errorf("%d acks waited for a confirmation, want none", got.AcksConfirmed)
	}
	if a := got.APIRequests(); a > n/2 {
		t.Errorf("%.2f other JetStream API requests per trigger, want at most 0.5:\n%s", float64(a)/float64(n), got.Per(n))
	}
	if trips.Triggers() != n || trips.Unanswered != 0 {
		t.Errorf("round trips followed for %d triggers (%d requests unanswered), want %d", trips.Triggers(), trips.Unanswered, n)
	}
	for r, k := range trips.Rounds {
		if r < 4 || r > 5 {
			t.Errorf("%d triggers took %d round trips, want 4 (or 5 where the connection wrote the plan and operation apart)", k, r)
		}
	}
	if m := trips.Mean(); m >= 4.75 {
		t.Errorf("%.2f round trips per trigger, want below 4.75: are the plan and its operations published one after another?", m)
	}
	if trips.EarlyAcks != 0 {
		t.Errorf("%d acks sent before their handler's publishes were answered, want none", trips.EarlyAcks)
	}
}

// requestsSettled reports whether every consumer of the streams has delivered and had acked
// everything.
func requestsSettled(js jetstream.JetStream, streams ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range streams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		l := s.ListConsumers(ctx)
		for ci := range l.Info() {
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				return fmt.Errorf("consumer %s on %s: %d pending, %d unacked", ci.Name, name, ci.NumPending, ci.NumAckPending)
			}
		}
		if err := l.Err(); err != nil {
			return err
		}
	}
	return nil
}
