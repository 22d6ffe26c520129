package main_test

// ITSM-led change end to end: processes on a nats-server process, the seed mediator, the
// SecureChange simulator, a ServiceNow change table, and callbacks signed as the
// ServiceNow example's business rule signs them.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

const inboundSecret = "callback-shared-secret"

// changeTable is ServiceNow's change_request table, as much as the round trip needs:
// POST creates a record (201 {"result":{sys_id, number}}) and keeps its body.
type changeTable struct {
	*httptest.Server
	mu   sync.Mutex
	recs []map[string]any
}

func newChangeTable(t *testing.T) *changeTable {
	c := &changeTable{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if r.Method != http.MethodPost || r.URL.Path != "/api/now/table/change_request" || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"bad request"},"status":"failure"}`)
			return
		}
		c.mu.Lock()
		in["sys_id"] = fmt.Sprintf("%032x", len(c.recs)+1)
		in["number"] = fmt.Sprintf("CHG%07d", len(c.recs)+1)
		c.recs = append(c.recs, in)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"sys_id": in["sys_id"], "number": in["number"]}})
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *changeTable) records() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.recs...)
}

// postCallback posts a callback signed the way examples/servicenow/business_rule.js
// signs it (base64 HMAC-SHA256 of "<unix seconds>.<body>").
func postCallback(t *testing.T, url string, body string) (int, string) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(inboundSecret))
	mac.Write([]byte(ts + "." + body))
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Triggerflow-Timestamp", ts)
	req.Header.Set("X-Triggerflow-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// inboundYAML is the round trip's config: CREATE opens a change (its sys_id correlated);
// the change's approval callback approves the step it names and advances the ticket.
func inboundYAML(natsURL, admin, listen, pwFile, secretFile string, c config.SecureChange, snowURL, smtpHost string, smtpPort int) string {
	return fmt.Sprintf(`log: {level: info}
nats: {url: %q}
admin: {listen: %q}
ingress:
  listen: %q
  users: [{name: %s, password_file: %q}]
securechange: {url: %q, user: %q, password_file: %q}
smtp: {host: %q, port: %d, starttls: false, from: "triggerflow@example.com"}
notifications: {on_failure: ["ops@example.com"]}
itsm_sync: {ack_wait: 3s}
servers:
  snow:
    base_url: %q
    inbound:
      auth: {hmac: {secret_file: %q}}
      id: event_id
      ticket: u_securechange_ticket
      record: sys_id
routes:
  - name: open-change
    on: {event: CREATE}
    actions:
      - name: create-change
        itsm:
          server: snow
          method: POST
          path: /api/now/table/change_request
          body: '{"short_description":"#ticket_subject#","u_securechange_ticket":"#ticket_id#","u_securechange_step":"#step_name#"}'
          response:
            correlate: {sys_id: "#result.sys_id#", number: "#result.number#"}
inbound_routes:
  - name: change-approved
    server: snow
    when: callback.approval == "approved"
    actions:
      - name: approve
        securechange: {approve: "#callback.comments#", step: "#callback.u_securechange_step#"}
      - name: advance
        securechange: {advance: true, step: "#callback.u_securechange_step#"}
  - name: work-note
    server: snow
    when: path("work_notes") != ""
    actions:
      - name: comment
        securechange: {comment: "#callback.work_notes#"}
`, natsURL, admin, listen, e2eUser, pwFile, c.URL, c.User, c.PasswordFile, smtpHost, smtpPort, snowURL, secretFile)
}

func writeSecret(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "callback-secret")
	if err := os.WriteFile(p, []byte(inboundSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInboundRoundTrip: SecureChange CREATE (the seed mediator) → a ServiceNow change
// (its sys_id correlated) → the change's approval callback, naming only its sys_id,
// posted five times (the ITSM's retries) → the SecureChange step approved once and
// advanced; a callback for a record nobody knows → stored, then a failed plan, a dead
// letter and an alert email saying which record and why; `triggerflow trace` shows every
// hop, callbacks included.
func TestInboundRoundTrip(t *testing.T) {
	nsrv := natstest.StartProcess(t)
	sc := securechangetest.New(t)
	sc.Put(securechangetest.Fixture("1001"))
	snow := newChangeTable(t)
	mail := smtptest.New(t)
	addr, admin := freeAddr(t), freeAddr(t)
	startTriggerflow(t, "all", inboundYAML(nsrv.URL(), admin, addr, passwordFile(t), writeSecret(t), sc.Config(), snow.URL, mail.Host, mail.Port), addr)

	runner := seedMediator(t, addr, "trigger_file", "first-arg-dropped-by-mediator")
	if res, err := runner.Run(context.Background(), "CREATE", repoFile(t, "examples/tickets/create.xml")); err != nil || !res.OK() {
		t.Fatalf("mediator: %+v %v", res, err)
	}
	var rec map[string]any
	natstest.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		if rs := snow.records(); len(rs) == 1 {
			rec = rs[0]
			return nil
		}
		return fmt.Errorf("no change created yet")
	})
	if rec["u_securechange_ticket"] != "1001" || rec["u_securechange_step"] != "Business Approval" {
		t.Fatalf("change: %v", rec)
	}
	sys := rec["sys_id"].(string)

	// The ITSM's approval, retried five times: acted on once.
	approval := fmt.Sprintf(`{"event_id":"%s:approval:1","sys_id":"%s","number":"%s","approval":"approved","comments":"CAB 2026-12-04: approved","u_securechange_step":"%s"}`,
		sys, sys, rec["number"], rec["u_securechange_step"])
	for range 5 {
		if code, body := postCallback(t, "http://"+addr+"/v1/inbound/snow", approval); code != http.StatusAccepted {
			t.Fatalf("callback: %d %s", code, body)
		}
	}
	natstest.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		if st := sc.Ticket("1001").CurrentStep; st == nil || st.Name != "Implementation" {
			return fmt.Errorf("current step %+v", st)
		}
		return nil
	})
	if !strings.Contains(string(sc.TicketJSON("1001")), `"approved":true,"id":211,"name":"Approve Access","reason":"CAB 2026-12-04: approved"`) {
		t.Fatalf("not approved with the CAB's comments: %s", sc.TicketJSON("1001"))
	}
	writes := 0
	for _, r := range sc.Requests() {
		if r.Method == http.MethodPut && strings.Contains(r.Path, "/tickets/1001/") {
			writes++
		}
	}
	if writes != 2 { // the approve_reject field, then the task done
		t.Fatalf("%d writes to ticket 1001, want 2 (approve, advance)", writes)
	}

	// A callback of a record no ticket is correlated with: stored, then failed, alerted.
	if code, body := postCallback(t, "http://"+addr+"/v1/inbound/snow", `{"event_id":"x1","sys_id":"0badc0de","approval":"approved","comments":"?"}`); code != http.StatusAccepted {
		t.Fatalf("unknown record: %d %s", code, body)
	}
	msgs := mail.WaitMessages(t, 1, 90*time.Second)
	if body := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(msgs[0].Data)); !strings.Contains(body, "ITSM callback") || !strings.Contains(body, "0badc0de") || !strings.Contains(body, "no SecureChange ticket is correlated") ||
		!strings.Contains(body, "scw.dlq.dispatcher.rec-0badc0de") {
		t.Fatalf("alert: %s", body)
	}

	b, err := exec.Command(triggerflowBinary(t), "trace", "--server", nsrv.URL(), "1001").CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("trace: %v %s", err, out)
	}
	for _, hop := range []string{"SCW_TRIGGERS", "CREATE", "create-change", "scw_correlation", "SCW_INBOUND", "callback", "INBOUND", "change-approved/approve", "change-approved/advance", "succeeded"} {
		if !strings.Contains(out, hop) {
			t.Errorf("trace lacks %q:\n%s", hop, out)
		}
	}
	if n := strings.Count(out, "SCW_INBOUND"); n != 1 {
		t.Errorf("trace shows %d callbacks, want 1 (stored once):\n%s", n, out)
	}
	if t.Failed() {
		return
	}
	t.Logf("trace 1001:\n%s", out)
}
