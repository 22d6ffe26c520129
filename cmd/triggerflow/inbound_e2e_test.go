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
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	code, answer, err := sendCallback(url, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, answer
}

// sendCallback is postCallback for any goroutine.
func sendCallback(url string, body string) (int, string, error) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(inboundSecret))
	mac.Write([]byte(ts + "." + body))
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Triggerflow-Timestamp", ts)
	req.Header.Set("X-Triggerflow-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
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

// slowSecureChange puts delay in front of every write to SecureChange (a proxy to the
// simulator), so that a run lasts long enough to be interrupted.
func slowSecureChange(t *testing.T, sc *securechangetest.Server, delay time.Duration) config.SecureChange {
	c := sc.Config()
	target, err := url.Parse(strings.TrimSuffix(sc.URL, securechangetest.APIPath))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			time.Sleep(delay)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	c.URL = slow.URL + securechangetest.APIPath
	return c
}

// callbacksYAML: the ingress, the dispatcher and itsm-sync replicas of the kill test;
// every callback of servicenow adds its work note to the ticket it names.
func callbacksYAML(natsURL, admin, listen, instance, secretFile, pwFile string, sc config.SecureChange) string {
	return fmt.Sprintf(`log: {level: info}
nats: {url: %q}
admin: {listen: %q}
ingress: {listen: %q, instance: %q, users: [{name: mediator, password_file: %q}]}
dispatcher: {instance: %q}
itsm_sync: {instance: %q, ack_wait: 2s}
securechange: {url: %q, user: %q, password_file: %q}
servers:
  snow:
    base_url: https://snow.example
    inbound:
      auth: {hmac: {secret_file: %q}}
      id: event_id
      ticket: u_securechange_ticket
inbound_routes:
  - name: work-note
    server: snow
    actions:
      - name: comment
        securechange: {comment: "#callback.work_notes#"}
`, natsURL, admin, listen, instance, pwFile, instance, instance, sc.URL, sc.User, sc.PasswordFile, secretFile)
}

// sendNotes posts notes work notes for each of tickets tickets (3001, …) as the ITSM
// would: the notes of one ticket one after the other, at its pace, the tickets at once.
// wait waits for every post to be answered 202.
func sendNotes(t *testing.T, url string, tickets, notes int) (wait func()) {
	var wg sync.WaitGroup
	errs := make(chan error, tickets)
	for i := range tickets {
		wg.Add(1)
		go func(ticket string) {
			defer wg.Done()
			for k := 1; k <= notes; k++ {
				body := fmt.Sprintf(`{"event_id":"%s-%d","u_securechange_ticket":"%s","work_notes":"note %d of %s"}`, ticket, k, ticket, k, ticket)
				if code, b, err := sendCallback(url, body); err != nil || code != http.StatusAccepted {
					errs <- fmt.Errorf("ticket %s note %d: %d %s %v", ticket, k, code, b, err)
					return
				}
				time.Sleep(50 * time.Millisecond) // the ITSM's pace: the run lasts past the kill
			}
		}(strconv.Itoa(3001 + i))
	}
	return func() {
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

// TestInboundCallbacksKillNine: 200 callbacks (10 work notes for each of 20 tickets,
// each ticket's sent one after the other) through the ingress, the dispatcher and two
// itsm-sync replicas, one of which is killed with SIGKILL in the middle and restarted:
// every note is on its ticket exactly once, in the order the ITSM sent them.
func TestInboundCallbacksKillNine(t *testing.T) {
	const tickets, notes = 20, 10
	nsrv := natstest.StartProcess(t)
	sim := securechangetest.New(t)
	for i := range tickets {
		sim.Put(securechangetest.Fixture(strconv.Itoa(3001 + i)))
	}
	sc, secret, pw := slowSecureChange(t, sim, 10*time.Millisecond), writeSecret(t), passwordFile(t)
	listen := freeAddr(t)
	start := func(command, instance, ready string, admin string) *proc {
		return startTriggerflow(t, command, callbacksYAML(nsrv.URL(), admin, listen, instance, secret, pw, sc), ready)
	}
	start("ingress", "ingress", listen, freeAddr(t))
	dAdmin := freeAddr(t)
	start("dispatcher", "dispatcher", dAdmin, dAdmin)
	aAdmin, bAdmin := freeAddr(t), freeAddr(t)
	a := start("itsm-sync", "sync-a", aAdmin, aAdmin)
	start("itsm-sync", "sync-b", bAdmin, bAdmin)

	noted := func() int {
		n := 0
		for i := range tickets {
			for _, c := range sim.Comments(strconv.Itoa(3001 + i)) {
				if strings.HasPrefix(c, "note ") {
					n++
				}
			}
		}
		return n
	}
	wait := sendNotes(t, "http://"+listen+"/v1/inbound/snow", tickets, notes)
	natstest.CheckFor(t, 90*time.Second, 5*time.Millisecond, func() error {
		if n := noted(); n < tickets*notes/4 {
			return fmt.Errorf("%d notes so far", n)
		}
		return nil
	})
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	killedAt := noted()
	start("itsm-sync", "sync-a", aAdmin, aAdmin)
	wait()
	natstest.CheckFor(t, 120*time.Second, 50*time.Millisecond, func() error {
		for i := range tickets { // the last note of every ticket is there
			ticket := strconv.Itoa(3001 + i)
			if !slices.Contains(sim.Comments(ticket), fmt.Sprintf("note %d of %s", notes, ticket)) {
				return fmt.Errorf("ticket %s lacks its last note (%d notes in all)", ticket, noted())
			}
		}
		return nil
	})
	for i := range tickets {
		ticket := strconv.Itoa(3001 + i)
		var got []string
		for _, c := range sim.Comments(ticket) {
			if strings.HasPrefix(c, "note ") {
				got = append(got, c)
			}
		}
		var want []string
		for k := 1; k <= notes; k++ {
			want = append(want, fmt.Sprintf("note %d of %s", k, ticket))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("ticket %s: notes %q, want each once, in order", ticket, got)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("SIGKILL of sync-a after %d of %d notes; all %d on their tickets once, in order", killedAt, tickets*notes, tickets*notes)
}
