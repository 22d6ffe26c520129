package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// recordingITSM is a ServiceNow-shaped table API that records each request by ticket and
// refuses the creates of the tickets in refuse (400) until fixed.
type recordingITSM struct {
	*httptest.Server
	mu     sync.Mutex
	calls  map[string][]string // ticket → "POST", "PATCH", …
	fixed  atomic.Bool
	refuse string
}

func newRecordingITSM(t *testing.T, refuse string) *recordingITSM {
	s := &recordingITSM{calls: map[string][]string{}, refuse: refuse}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Ticket string `json:"ticket"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		if body.Ticket == s.refuse && !s.fixed.Load() {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Invalid assignment group"}}`)
			return
		}
		s.mu.Lock()
		s.calls[body.Ticket] = append(s.calls[body.Ticket], r.Method)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"result":{"sys_id":"sys-%s","number":"CHG%s"}}`, body.Ticket, body.Ticket)
	}))
	t.Cleanup(s.Close)
	return s
}

// methods are the methods of the requests the ITSM accepted for ticket, in order.
func (s *recordingITSM) methods(ticket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls[ticket])
}

// count is how many requests of method the ITSM accepted for ticket.
func (s *recordingITSM) count(ticket, method string) int {
	n := 0
	for _, m := range s.methods(ticket) {
		if m == method {
			n++
		}
	}
	return n
}

// TestNATSRecipes runs the README's stock nats CLI recipes verbatim (bash, no terminal,
// NATS_URL set, the pinned nats CLI first on PATH) against a real nats-server process
// and `triggerflow all` on a workload: ticket 1001 created and advanced, ticket 1002's
// create refused (dead-lettered).
func TestNATSRecipes(t *testing.T) {
	recipes := readmeRecipes(t, string(repoFile(t, "README.md")))
	for _, name := range []string{"history", "replay", "resend", "redrive"} {
		if recipes[name] == "" {
			t.Fatalf("the README has no recipe %q (has %d)", name, len(recipes))
		}
	}
	cli := natstest.NATSCLI(t)
	ns := natstest.StartProcess(t)
	itsm := newRecordingITSM(t, "1002")
	addr := freeAddr(t)
	startTriggerflow(t, "all", fmt.Sprintf(`log: {level: warn}
nats: {url: %q}
ingress:
  listen: %q
  users: [{name: %s, password_file: %q}]
servers:
  servicenow: {base_url: %q, breaker: {failures: -1}}
routes:
  - name: open-change
    on: {event: CREATE}
    actions:
      - name: create
        itsm:
          server: servicenow
          method: POST
          path: /api/now/table/change_request
          body: '{"ticket":"#ticket_id#","short_description":"#ticket_subject#"}'
          response: {correlate: {sys_id: "#result.sys_id#"}}
  - name: update-change
    on: {event: ADVANCE}
    actions:
      - name: note
        itsm:
          server: servicenow
          method: PATCH
          path: /api/now/table/change_request/#correlation.sys_id#
          body: '{"ticket":"#ticket_id#","work_notes":"advanced"}'
`, ns.URL(), addr, e2eUser, passwordFile(t), itsm.URL), addr)

	post := func(event, file, ticket string) {
		t.Helper()
		xml := string(repoFile(t, "examples/tickets/"+file))
		xml = strings.Replace(xml, "<id>1001</id>", "<id>"+ticket+"</id>", 1) // create.xml
		xml = strings.Replace(xml, "<id>1002</id>", "<id>"+ticket+"</id>", 1) // advance.xml
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/triggers/"+event, bytes.NewReader([]byte(xml)))
		req.SetBasicAuth(e2eUser, e2ePassword)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: HTTP %d", event, ticket, res.StatusCode)
		}
	}
	post("CREATE", "create.xml", "1001")
	post("ADVANCE", "advance.xml", "1001")
	post("CREATE", "create.xml", "1002")
	js := natstest.JetStream(t, ns.URL())
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if itsm.count("1001", http.MethodPost) != 1 || itsm.count("1001", http.MethodPatch) != 1 {
			return fmt.Errorf("ticket 1001: %v", itsm.methods("1001"))
		}
		if n := len(natstest.Msgs(t, js, events.StreamDLQ, "scw.dlq.itsm-sync.1002")); n != 1 {
			return fmt.Errorf("%d dead letters for 1002", n)
		}
		return nil
	})

	run := func(name string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", recipes[name])
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "PATH="+cli+string(os.PathListSeparator)+os.Getenv("PATH"), "NATS_URL="+ns.URL())
		cmd.Stdin = nil // no terminal
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("recipe %s: %v\n%s\n%s", name, err, recipes[name], out)
		}
		if strings.Contains(string(out), "terminal") {
			t.Fatalf("recipe %s wants a terminal:\n%s", name, out)
		}
		return string(out)
	}

	// History: every stream's entries of ticket 1001, and its ServiceNow record.
	out := run("history")
	for _, want := range []string{"== SCW_TRIGGERS", "scw.trigger.create.", "scw.trigger.advance.", "== SCW_PLANS", "scw.plan.create.1001",
		"== SCW_OPS", "scw.op.itsm.servicenow.", "== SCW_RESULTS", "scw.result.itsm.succeeded.1001.", "sys-1001"} {
		if !strings.Contains(out, want) {
			t.Fatalf("history lacks %q:\n%s", want, out)
		}
	}

	// Replay: 1001's two triggers are planned again; what was done is not sent again, and
	// says so in a skipped result.
	plans := len(natstest.Msgs(t, js, events.StreamPlans, "scw.plan.*.1001"))
	run("replay")
	natstest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		if n := len(natstest.Msgs(t, js, events.StreamPlans, "scw.plan.*.1001")); n != plans+2 {
			return fmt.Errorf("%d plans of 1001, want %d", n, plans+2)
		}
		if n := len(natstest.Msgs(t, js, events.StreamResults, "scw.result.itsm.skipped.1001.*")); n != 2 {
			return fmt.Errorf("%d skipped results of 1001, want 2", n)
		}
		return nil
	})
	if itsm.count("1001", http.MethodPost) != 1 || itsm.count("1001", http.MethodPatch) != 1 {
		t.Fatalf("the replay sent again: %v", itsm.methods("1001"))
	}

	// Resend: the create of 1001 goes out once more, forced.
	run("resend")
	natstest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		if n := itsm.count("1001", http.MethodPost); n != 2 {
			return fmt.Errorf("%d creates of 1001", n)
		}
		return nil
	})
	natstest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error { // the result is stored after the call
		forced := 0
		for _, m := range natstest.Msgs(t, js, events.StreamResults, "scw.result.itsm.succeeded.1001.*") {
			if r, err := events.UnmarshalResult(m.Data); err == nil && r.Forced {
				forced++
			}
		}
		if forced != 1 {
			return fmt.Errorf("%d forced results for 1001, want 1", forced)
		}
		return nil
	})

	// Redrive: once the ITSM takes 1002, its dead letter goes out and is created once.
	itsm.fixed.Store(true)
	run("redrive")
	natstest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		if n := itsm.count("1002", http.MethodPost); n != 1 {
			return fmt.Errorf("%d creates of 1002", n)
		}
		return nil
	})
}
