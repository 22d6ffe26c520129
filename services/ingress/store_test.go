package ingress_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestRetriesStoreOnce: SecureChange runs a failed script up to five times; the same
// trigger posted five times gets five successes and one stored event.
func TestRetriesStoreOnce(t *testing.T) {
	g := startIngress(t, "", nil)
	xml := ticketXML("1234", "1763884860000")
	var ids []string
	for i := 0; i < 5; i++ {
		r := g.postMediator("ADVANCE", xml, "one two", "/opt/trigger-service/test.py")
		if r.Status != 200 || r.Reply.Error != nil || !r.Reply.Stored {
			t.Fatalf("attempt %d: %s", i+1, r)
		}
		ids = append(ids, r.Reply.ID)
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("ids differ across retries: %v", ids)
		}
	}
	if n := g.msgs(); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	// A different trigger of the same ticket is a new event.
	if r := g.postMediator("ADVANCE", ticketXML("1234", "1763884999000"), "one two", ""); r.Status != 200 {
		t.Fatal(r)
	}
	if n := g.msgs(); n != 2 {
		t.Fatalf("%d messages stored, want 2", n)
	}
}

// TestStoredEvent checks one stored event field by field, its subject and its headers.
func TestStoredEvent(t *testing.T) {
	g := startIngress(t, "", func(c *config.Config) { c.Ingress.Instance = "ingress-test-0" })
	xml := ticketXML("77", "1763884860000")
	r := g.postMediator("REDO", xml, "a b", "/opt/x.py")
	if r.Status != 200 || !strings.Contains(r.Reply.Output, "stored REDO for ticket 77 as trigger "+r.Reply.ID) {
		t.Fatalf("answer: %s", r)
	}
	evs := g.stored()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	want := events.NewTriggerEvent(events.Redo, ev.Ticket, []byte(xml), "a b", "/opt/x.py")
	switch {
	case ev.ID != r.Reply.ID || ev.ID != want.ID:
		t.Errorf("id %s, answered %s, derived %s", ev.ID, r.Reply.ID, want.ID)
	case ev.Event != events.Redo:
		t.Errorf("event %s", ev.Event)
	case ev.Ticket.ID != "77" || ev.Ticket.Subject != "Allow web to db" || ev.Ticket.UpdateDate != "1763884860000":
		t.Errorf("ticket %+v", ev.Ticket)
	case ev.Ticket.UpdatedAt == nil || !ev.Ticket.UpdatedAt.Equal(time.UnixMilli(1763884860000)):
		t.Errorf("updated_at %v", ev.Ticket.UpdatedAt)
	case ev.Ticket.CurrentStage == nil || *ev.Ticket.CurrentStage != (events.Stage{ID: "3", Name: "Approval"}):
		t.Errorf("current stage %+v", ev.Ticket.CurrentStage)
	case ev.Ticket.CompletionStage == nil || ev.Ticket.CompletionStage.Name != "Auto Target":
		t.Errorf("completion stage %+v", ev.Ticket.CompletionStage)
	case ev.Ticket.OpenRequestStage == nil || ev.Ticket.OpenRequestStage.Name != "Open request":
		t.Errorf("open request stage %+v", ev.Ticket.OpenRequestStage)
	case ev.RawXML != xml || ev.Args != "a b" || ev.Script != "/opt/x.py":
		t.Errorf("raw/args/script %q %q %q", ev.RawXML, ev.Args, ev.Script)
	case ev.Ingress != "ingress-test-0" || time.Since(ev.ReceivedAt) > time.Hour:
		t.Errorf("ingress %q received %v", ev.Ingress, ev.ReceivedAt)
	}
}

// TestTestButton: SecureChange's Test button is answered success and never stored.
func TestTestButton(t *testing.T) {
	g := startIngress(t, "", nil)
	for _, xml := range []string{"", "<ticket_info/>", "<?xml version=\"1.0\"?>\n<ticket_info></ticket_info>\n"} {
		r := g.postMediator("TEST", xml, "", "")
		if r.Status != 200 || r.Reply.Error != nil || !strings.Contains(r.Reply.Output, "TEST") || r.Reply.Stored {
			t.Fatalf("TEST %q: %s", xml, r)
		}
	}
	if n := g.msgs(); n != 0 {
		t.Fatalf("TEST stored %d messages", n)
	}
}

// TestUnescapedArgsRecovered: the seed mediator pastes args into the JSON unescaped; the
// ingress recovers the four fields from the mediator's layout, exactly.
func TestUnescapedArgsRecovered(t *testing.T) {
	g := startIngress(t, "", nil)
	args := `say "hi" C:\temp\new x","script":"y`
	r := g.postMediator("CREATE", ticketXML("5", "1"), args, "/opt/s.py")
	if r.Status != 200 || !r.Reply.Stored {
		t.Fatalf("answer: %s", r)
	}
	ev := g.stored()[0]
	if ev.Args != args || ev.Script != "/opt/s.py" || !ev.Recovered {
		t.Fatalf("args %q script %q recovered %v", ev.Args, ev.Script, ev.Recovered)
	}
}

// TestRawEndpoint: POST /v1/triggers/{EVENT} with the XML as the body.
func TestRawEndpoint(t *testing.T) {
	g := startIngress(t, "", nil)
	r := g.post("/v1/triggers/CLOSE?arg=a%20b&arg=c&script=/x", "application/xml", []byte(ticketXML("9", "1")))
	if r.Status != 200 || !r.Reply.Stored {
		t.Fatal(r)
	}
	ev := g.stored()[0]
	if ev.Event != events.Close || ev.Args != "a b c" || ev.Script != "/x" || ev.Ticket.ID != "9" {
		t.Fatalf("%+v", ev)
	}
	if ev.Subject() != "scw.trigger.close.9" {
		t.Fatalf("subject %s", ev.Subject())
	}
}

// TestHealthEndpoints: /healthz, /readyz (JetStream answers) and /metrics, with triggers
// counted by event and outcome (a stored CREATE, an ADVANCE whose ticket has no id).
func TestHealthEndpoints(t *testing.T) {
	g := startIngress(t, "", nil)
	g.postMediator("CREATE", ticketXML("5", "1"), "", "")
	if r := g.postMediator("ADVANCE", "<ticket_info><subject>no id</subject></ticket_info>", "", ""); r.Reply.Stored {
		t.Fatalf("a ticket without an id was stored: %s", r)
	}
	for path, wants := range map[string][]string{
		"/healthz": {"ok"},
		"/readyz":  {"ready"},
		"/metrics": {
			`triggerflow_ingress_requests_total{endpoint="mediator",outcome="stored"} 1`,
			`triggerflow_ingress_triggers_total{event="create",outcome="stored"} 1`,
			`triggerflow_ingress_triggers_total{event="advance",outcome="rejected"} 1`,
			`triggerflow_build_info{commit="`,
		},
	} {
		req, _ := http.NewRequest(http.MethodGet, g.URL+path, nil)
		req.Header.Set("X-No-Auth", "1")
		r := g.do(req)
		for _, want := range wants {
			if r.Status != 200 || !strings.Contains(string(r.Body), want) {
				t.Fatalf("%s: no %s in %s", path, want, r)
			}
		}
	}
}

// TestJetStreamDown: with a real nats-server process stopped under the ingress, a post
// fails (non-2xx) within the publish timeout, saying nothing was sent; once it is back,
// the next post is stored, and the refused one is not: nats.go would otherwise have
// queued it and sent it on reconnect, after SecureChange was told it was not stored.
// Every trigger ever acknowledged is in the stream at the end.
func TestJetStreamDown(t *testing.T) {
	srv := natstest.StartProcess(t)
	g := startIngress(t, srv.URL(), func(c *config.Config) { c.Ingress.PublishTimeout = 2 * time.Second })

	var mu sync.Mutex
	acked := map[string]bool{}
	post := func(i int) response {
		r := g.postMediator("CREATE", ticketXML(fmt.Sprint(i), "1"), "", "")
		if r.Status == 200 {
			if !r.Reply.Stored {
				t.Errorf("200 without stored: %s", r)
			}
			mu.Lock()
			acked[r.Reply.ID] = true
			mu.Unlock()
		}
		return r
	}
	for i := 1; i <= 20; i++ {
		if r := post(i); r.Status != 200 {
			t.Fatalf("before the outage: %s", r)
		}
	}

	// Posts keep coming while the server goes down.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1000; ; i++ {
			select {
			case <-stop:
				return
			default:
				post(i)
			}
		}
	}()
	srv.Stop()
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, g.URL+"/readyz", nil)
		if r := g.do(req); r.Status != http.StatusServiceUnavailable {
			return fmt.Errorf("readyz with JetStream down: %s", r)
		}
		return nil
	})

	start := time.Now()
	r := post(100)
	took := time.Since(start)
	if r.Status < 300 {
		t.Fatalf("post with JetStream down succeeded: %s", r)
	}
	if r.Status != http.StatusServiceUnavailable || r.Reply.Error == nil || !strings.Contains(r.Reply.Error.Output, "not stored") ||
		!strings.Contains(r.Reply.Error.Output, "not connected to the NATS server (reconnecting); nothing was sent") {
		t.Fatalf("want 503 naming the failure, got %s", r)
	}
	// generous bound: the publish timeout plus scheduling slack on a loaded machine
	if limit := g.Cfg.Ingress.PublishTimeout + 10*time.Second; took > limit {
		t.Fatalf("failure took %s, more than the %s timeout allows", took, g.Cfg.Ingress.PublishTimeout)
	}

	srv.Start()
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if r := post(200); r.Status != 200 {
			return fmt.Errorf("after restart: %s", r)
		}
		return nil
	})
	close(stop)
	wg.Wait()

	stored := map[string]bool{}
	for _, ev := range g.stored() {
		stored[ev.ID] = true
		// Queued while the connection was down, it would have been sent on reconnect,
		// before post(200).
		if ev.Ticket.ID == "100" {
			t.Errorf("the trigger refused while the server was down was stored once it was back: %+v", ev)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range acked {
		if !stored[id] {
			t.Errorf("trigger %s was acknowledged but is not in the stream", id)
		}
	}
	t.Logf("%d triggers acknowledged, %d stored", len(acked), len(stored))
}

// TestEmptyTicketIsTestRun: an empty ticket_info is SecureChange's Test button whatever
// the event says (pytos takes any empty ticket_info for the Test run), on both endpoints:
// 200, the TEST answer, nothing stored. These were rejections in TestBadInput ("empty
// ticket on a real event", "whitespace ticket on a real event", "raw: empty body").
func TestEmptyTicketIsTestRun(t *testing.T) {
	g := startIngress(t, "", nil)
	empties := []string{"", "  \n", "<ticket_info/>", "<ticket_info></ticket_info>", "<?xml version=\"1.0\"?>\n<ticket_info>\n</ticket_info>\n"}
	check := func(name string, r response) {
		t.Helper()
		if r.Status != 200 || r.Reply.Error != nil || r.Reply.Stored || r.Reply.ID != "" ||
			!strings.Contains(r.Reply.Output, "treated as SecureChange's Test run") || !strings.Contains(string(r.Body), `"event":"TEST"`) {
			t.Errorf("%s: %s", name, r)
		}
	}
	for _, event := range []string{"ADVANCE", "CREATE", "CLOSE", "PRE_ASSIGNMENT_SCRIPT"} {
		for _, xml := range empties {
			check(fmt.Sprintf("mediator %s %q", event, xml), g.postMediator(event, xml, "", ""))
			check(fmt.Sprintf("raw %s %q", event, xml), g.post("/v1/triggers/"+event, "application/xml", []byte(xml)))
		}
	}
	// The seed mediator's exact layout (empty stdin: base64 of nothing) and compact JSON.
	check("seed layout", g.post("/trigger_file", "application/json", []byte("{ \"ticket_info\":\"\",\n\"event\":\"ADVANCE\",\n\"args\":\"\",\n\"script\":\"\"\n}")))
	check("compact JSON", g.post("/trigger_file", "application/json", []byte(`{"ticket_info":"","event":"ADVANCE"}`)))
	if n := g.msgs(); n != 0 {
		t.Fatalf("an empty ticket_info stored %d messages", n)
	}
	// A ticket_info that is not empty is still checked under a real event.
	if r := g.postMediator("ADVANCE", "<ticket_info><subject>x</subject></ticket_info>", "", ""); r.Status != 400 || r.Reply.Error == nil || !strings.Contains(r.Reply.Error.Output, "missing <id>") {
		t.Fatalf("ticket without an id: %s", r)
	}
}
