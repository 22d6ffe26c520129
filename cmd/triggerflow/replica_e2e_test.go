package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// tableAPI is a minimal ServiceNow Table API: POST creates (remembering correlation_id),
// GET ?sysparm_query=correlation_id=X finds. Creates are slow enough that a kill lands
// while some are in flight. Each replica reaches it on its own address (For), so the
// test knows what is in flight on which replica; creates wait for open to be closed.
type tableAPI struct {
	open     chan struct{}
	mu       sync.Mutex
	creates  map[string]int // per correlation_id
	inFlight map[string]int // creates in flight, per replica
	total    atomic.Int64
}

func newTableAPI() *tableAPI {
	return &tableAPI{open: make(chan struct{}), creates: map[string]int{}, inFlight: map[string]int{}}
}

// For is the API as replica sees it.
func (a *tableAPI) For(replica string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			<-a.open
			a.mu.Lock()
			a.inFlight[replica]++
			a.mu.Unlock()
			defer func() {
				a.mu.Lock()
				a.inFlight[replica]--
				a.mu.Unlock()
			}()
		}
		a.serve(w, r)
	})
}

// InFlight is how many creates replica has in flight.
func (a *tableAPI) InFlight(replica string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inFlight[replica]
}

func (a *tableAPI) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		q := strings.TrimPrefix(r.URL.Query().Get("sysparm_query"), "correlation_id=")
		a.mu.Lock()
		n := a.creates[q]
		a.mu.Unlock()
		if n == 0 {
			_, _ = io.WriteString(w, `{"result":[]}`)
			return
		}
		_, _ = fmt.Fprintf(w, `{"result":[{"sys_id":"%s","number":"CHG%s"}]}`, q, q[:7])
		return
	}
	var in struct {
		Correlation string `json:"correlation_id"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &in); err != nil || in.Correlation == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	time.Sleep(20 * time.Millisecond) // a real server's latency, not a test wait
	a.mu.Lock()
	a.creates[in.Correlation]++
	a.mu.Unlock()
	a.total.Add(1)
	w.WriteHeader(http.StatusCreated)
	_, _ = fmt.Fprintf(w, `{"result":{"sys_id":"%s","number":"CHG%s"}}`, in.Correlation, in.Correlation[:7])
}

// TestITSMSyncReplicaKilled runs two `triggerflow itsm-sync` processes against a real
// nats-server process, SIGKILLs one while creates are in flight, and checks that every
// create reached the ITSM server exactly once and every operation has one result.
func TestITSMSyncReplicaKilled(t *testing.T) {
	ns := natstest.StartProcess(t)
	api := newTableAPI()
	srvA, srvB := httptest.NewServer(api.For("A")), httptest.NewServer(api.For("B"))
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)

	yaml := func(admin, url string) string {
		return fmt.Sprintf(`nats: {url: %q}
admin: {listen: %q}
log: {level: warn}
servers:
  snow: {base_url: %q, timeout: 500ms}
itsm_sync: {ack_wait: 3s, instance: %q}
`, ns.URL(), admin, url, admin)
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startTriggerflow(t, "itsm-sync", yaml(addrA, srvA.URL), addrA)
	startTriggerflow(t, "itsm-sync", yaml(addrB, srvB.URL), addrB)

	spec, _ := json.Marshal(events.ITSMSpec{
		Server: "snow", Method: "POST", Path: "/api/now/table/change_request",
		Body:     `{"short_description":"#ticket_subject#","correlation_id":"#trigger_id#"}`,
		Response: events.ResponseSpec{Correlate: map[string]string{"sys_id": "#result.sys_id#"}},
		Lookup: &events.LookupSpec{Path: "/api/now/table/change_request?sysparm_query=correlation_id=#trigger_id#", Found: "result.0.sys_id",
			Response: &events.ResponseSpec{Correlate: map[string]string{"sys_id": "#result.0.sys_id#"}}},
	})
	const n = 300
	nc := natstest.Connect(t, ns.URL())
	ops := make([]events.Operation, n)
	for i := range ops {
		ticket := fmt.Sprint(5000 + i)
		trig := events.NewTriggerEvent(events.Create, events.TicketInfo{ID: ticket, Subject: "Allow " + ticket, UpdateDate: "1763884860000"}, []byte("<ticket_info/>"), "", "")
		ops[i] = events.Operation{ID: events.OperationID(trig.ID, "open-change", "create"), Kind: events.OpITSM, Target: "snow",
			Route: "open-change", Action: "create", TriggerID: trig.ID, Ticket: ticket, Event: events.Create, Spec: spec,
			Context: &events.OpContext{Trigger: trig}}
	}
	natstest.PublishOps(t, nc, nil, "", ops...)

	// Everything is queued before the first create is let through, so the kill below
	// lands while replica A works, however slow or loaded the machine.
	close(api.open)
	natstest.CheckFor(t, 2*time.Minute, time.Millisecond, func() error {
		if got := api.total.Load(); got < n/4 || api.InFlight("A") == 0 {
			return fmt.Errorf("%d creates so far, %d in flight on replica A", got, api.InFlight("A"))
		}
		return nil
	})
	_ = a.cmd.Process.Kill() // SIGKILL: whatever it had in flight is neither recorded nor acked
	<-a.done

	js2, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
		if got := len(natstest.Msgs(t, js2, events.StreamResults, "scw.result.itsm.>")); got < n {
			return fmt.Errorf("%d of %d results", got, n)
		}
		return nil
	})
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.creates) != n {
		t.Fatalf("%d records created, want %d", len(api.creates), n)
	}
	for id, c := range api.creates {
		if c != 1 {
			t.Errorf("operation for trigger %s created %d times", id, c)
		}
	}
	redelivered := 0
	for _, m := range natstest.Msgs(t, js2, events.StreamResults, "scw.result.itsm.>") {
		if !strings.Contains(m.Subject, ".succeeded.") {
			t.Errorf("result %s: %s", m.Subject, m.Data)
		}
		if r, err := events.UnmarshalResult(m.Data); err == nil && len(r.Attempts) > 0 && r.Attempts[0].Lookup {
			redelivered++ // the killed replica had it: the survivor asked the server first
		}
	}
	t.Logf("%d operations were in flight on the killed replica and redelivered to the other", redelivered)
	if redelivered == 0 { // the killed replica had a create in flight
		t.Fatal("no operation was redelivered: the kill tested nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if info, err := js2.Stream(ctx, events.StreamDLQ); err == nil {
		if i, _ := info.Info(ctx); i != nil && i.State.Msgs != 0 {
			t.Errorf("%d dead letters", i.State.Msgs)
		}
	}
}
