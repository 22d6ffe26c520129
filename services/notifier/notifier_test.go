package notifier_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health/metricstest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// smtpServer is a real SMTP server with AUTH over STARTTLS, and the config to reach it.
func smtpServer(t testing.TB) (*smtptest.Server, config.SMTP) {
	cert := natstest.SelfSignedCert(t)
	srv := smtptest.New(t, smtptest.WithAuth("triggerflow", "smtp-secret"), smtptest.WithSTARTTLS(cert.TLS))
	pw := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pw, []byte("smtp-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, config.SMTP{
		Host: srv.Host, Port: srv.Port, Username: "triggerflow", PasswordFile: pw,
		From: "triggerflow <triggerflow@example.com>", TLSConfig: config.ClientTLS{CAFile: cert.CertFile},
	}
}

// testConfig is the notifier's config of the tests, for natsURL ("": the rig's own
// JetStream): fast retries; mutate adjusts it.
func testConfig(natsURL string, mutate func(*config.Config)) *config.Config {
	cfg := config.Default()
	cfg.NATS.URL = natsURL
	cfg.Notifier.Instance = "notifier-test"
	cfg.Notifier.Retry = config.Retry{Attempts: 4, Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

// emailOp is an email operation as the dispatcher plans it, with an enriched ticket.
func emailOp(ticket string, spec events.EmailSpec) events.Operation {
	info := events.TicketInfo{ID: ticket, Subject: "Zugriff für Web → DB", UpdateDate: "1763884860000"}
	trig := events.NewTriggerEvent(events.Create, info, []byte("<ticket_info/>"), "", "")
	b, _ := json.Marshal(spec)
	tk := fmt.Sprintf(`{"id":%s,"subject":"Zugriff für Web → DB","requester":"a.smith","requester_id":41,"requester_email":"a.smith@example.com",
"workflow":{"id":7,"name":"Access Request"},"current_step":{"id":12,"name":"Business Approval"},
"steps":{"step":{"id":12,"name":"Business Approval","tasks":{"task":{"id":22,"name":"Default","status":"ASSIGNED","assignee":"b.jones","assignee_id":42,"fields":{"field":[]}}}}},
"comments":{"comment":[]}}`, ticket)
	return events.Operation{
		ID: events.OperationID(trig.ID, "tell", "mail"), Kind: events.OpEmail, Target: "smtp", Route: "tell", Action: "mail",
		TriggerID: trig.ID, Ticket: ticket, Event: events.Create, Spec: b,
		Context: &events.OpContext{Trigger: trig, Ticket: json.RawMessage(tk)},
	}
}

// usersAPI answers SecureChange's GET /users/{id}.json.
func usersAPI(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tickets/4343.json" {
			_, _ = io.WriteString(w, `{"ticket":`+string(emailOp("4343", events.EmailSpec{}).Context.Ticket)+`}`)
			return
		}
		if r.URL.Path == "/users/42.json" {
			_, _ = io.WriteString(w, `{"user":{"id":42,"name":"b.jones","email":"b.jones@example.com"}}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An email operation over SMTP with AUTH and STARTTLS: recipients (fixed, the requester
// from the ticket, the step handler from SecureChange's users API), headers, a
// text + HTML alternative, placeholders rendered, a UTF-8 subject encoded.
func TestEmailOperation(t *testing.T) {
	ns := natstest.RunJetStream(t)
	srv, smtpCfg := smtpServer(t)
	scURL := usersAPI(t)
	dir := t.TempDir()
	text, html := filepath.Join(dir, "mail.txt"), filepath.Join(dir, "mail.html")
	_ = os.WriteFile(text, []byte("Ticket #ticket_id# (#ticket_subject#) is at #step_name#, handled by #assignee#.\n"), 0o600)
	_ = os.WriteFile(html, []byte("<p>Ticket <b>#ticket_id#</b>: #ticket_subject#</p>\n"), 0o600)
	t.Setenv("SC_TEST_PASSWORD", "sc")
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = smtpCfg
		c.SecureChange = config.SecureChange{URL: scURL, User: "api", PasswordEnv: "SC_TEST_PASSWORD"}
	}))
	// As the dispatcher plans it: the route's template files read into the operation.
	spec, err := config.EmailAction{To: []string{"cab@example.com", "requester"}, Cc: []string{"handler"},
		Subject: "Ticket #ticket_id# – #ticket_subject# ✓", Template: text, HTML: html}.Spec()
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(text) // the notifier needs no template file
	o := emailOp("1234", spec)
	g.PublishOps(nil, "", o)
	msgs := srv.WaitMessages(t, 1, time.Minute)
	m := msgs[0]
	if got := strings.Join(m.To, ","); got != "cab@example.com,a.smith@example.com,b.jones@example.com" {
		t.Errorf("envelope recipients %s", got)
	}
	h := m.Parsed.Header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Ticket 1234 – Zugriff für Web → DB ✓" || !strings.Contains(h.Get("Subject"), "=?") {
		t.Errorf("subject %q (raw %q) %v", subject, h.Get("Subject"), err)
	}
	if h.Get("Message-Id") != "<"+o.ID+"@triggerflow>" || h.Get("X-Triggerflow-Ticket") != "1234" || !strings.Contains(h.Get("Cc"), "b.jones@example.com") {
		t.Errorf("headers %v", h)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Parsed.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Type")+"|"+decodeQP(p.Header.Get("Content-Transfer-Encoding"), b))
	}
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "text/plain") || !strings.Contains(parts[0], "Ticket 1234 (Zugriff für Web → DB) is at Business Approval, handled by b.jones.") ||
		!strings.HasPrefix(parts[1], "text/html") || !strings.Contains(parts[1], "<b>1234</b>") {
		t.Errorf("parts %q", parts)
	}
	if r := g.WaitResults("scw.result.email.>", 1)[0]; r.Status != events.ResultSucceeded || len(r.Attempts) != 1 {
		t.Errorf("result %+v", r)
	}
	if strings.Contains(g.Logs.String(), "smtp-secret") {
		t.Error("the SMTP password is in the logs")
	}
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"triggerflow_notifier_emails_total", map[string]string{"kind": "email", "outcome": "sent"}, 1},
		{"triggerflow_notifier_smtp_seconds", map[string]string{"kind": "email"}, 1},
		{"triggerflow_operation_deliveries_total", map[string]string{"service": "notifier", "kind": "email", "target": "smtp", "outcome": "succeeded"}, 1},
		{"triggerflow_operation_delivery_seconds", map[string]string{"service": "notifier", "kind": "email", "target": "smtp"}, 1},
	} {
		if err := metricstest.Want(g.Registry, w.name, w.labels, w.want); err != nil {
			t.Error(err)
		}
	}
}

func decodeQP(enc string, b []byte) string {
	if strings.EqualFold(enc, "quoted-printable") {
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err == nil {
			return string(out)
		}
	}
	return string(b)
}

// 451 then success → exactly one email and a result with both attempts; 550 → dead
// letter at once, one attempt; a replay of a sent operation sends nothing.
func TestTransientPermanentAndReplay(t *testing.T) {
	ns := natstest.RunJetStream(t)
	srv, smtpCfg := smtpServer(t)
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) { c.SMTP = smtpCfg }))

	srv.FailNext(1, 451, "4.3.0 try again later")
	g.PublishOps(nil, "", emailOp("1", events.EmailSpec{To: []string{"ops@example.com"}}))
	r := g.WaitResults("scw.result.email.succeeded.1.*", 1)[0]
	if len(r.Attempts) != 2 || !r.Attempts[0].Transient {
		t.Fatalf("result %+v", r)
	}
	if n := len(srv.WaitMessages(t, 1, time.Minute)); n != 1 {
		t.Fatalf("%d emails", n)
	}

	srv.FailNext(1, 550, "5.1.1 mailbox unavailable")
	g.PublishOps(nil, "", emailOp("2", events.EmailSpec{To: []string{"nobody@example.com"}}))
	r = g.WaitResults("scw.result.email.failed.2.*", 1)[0]
	if len(r.Attempts) != 1 || r.Attempts[0].Transient || !strings.Contains(r.Error, "550") {
		t.Fatalf("result %+v", r)
	}
	// The dead letter follows the failed result: wait for it.
	if dl := g.WaitMsgs(events.StreamDLQ, "scw.dlq.notifier.2", 1); len(dl) != 1 || !strings.Contains(dl[0].Header.Get(events.HdrError), "550") {
		t.Fatalf("dead letters %v", dl)
	}

	o := emailOp("3", events.EmailSpec{To: []string{"ops@example.com"}})
	g.PublishOps(nil, "", o)
	g.WaitResults("scw.result.email.succeeded.3.*", 1)
	g.PublishOps(nil, "-replay", o)
	g.PublishOps(nil, "", emailOp("4", events.EmailSpec{To: []string{"ops@example.com"}})) // a marker behind the replay
	g.WaitResults("scw.result.email.succeeded.4.*", 1)
	if n := len(srv.Messages()); n != 3 { // 1, 3 and 4; the replay of 3 sent nothing
		t.Fatalf("%d emails, want 3", n)
	}
}

// 200 failures within a minute: the first digest_after alerts one by one, the rest in
// one digest; each alert says what failed, for which ticket, how often it was tried, the
// last error and the nats command that finds it.
func TestAlertStormBecomesDigest(t *testing.T) {
	ns := natstest.RunJetStream(t)
	srv, smtpCfg := smtpServer(t)
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = smtpCfg
		// One window for the whole storm however slow the machine; the digest pending at
		// the end goes out when the notifier stops.
		c.Notifications = config.Notifications{OnFailure: []string{"ops@example.com"}, DigestAfter: 5, DigestWindow: time.Hour}
	}))
	for i := range 200 {
		r := events.Result{OperationID: fmt.Sprintf("op%03d", i), TriggerID: "t", Ticket: fmt.Sprint(9000 + i), Event: events.Create,
			Kind: events.OpITSM, Target: "servicenow", Route: "open-change", Action: "create", Status: events.ResultFailed,
			Error: "gave up after 8 attempts: 503 Service Unavailable", Attempts: make([]events.Attempt, 8)}
		b, _ := r.Marshal()
		g.Publish(natstest.NewMsg(r.Subject(), b, r.Headers(), r.ID()))
	}
	srv.WaitMessages(t, 5, 2*time.Minute)
	natstest.CheckFor(t, 2*time.Minute, 20*time.Millisecond, func() error {
		c, err := g.JS.Consumer(t.Context(), events.StreamResults, "notifier-alerts")
		if err != nil {
			return err
		}
		ci, err := c.Info(t.Context())
		if err == nil && (ci.NumPending != 0 || ci.NumAckPending != 0) {
			err = fmt.Errorf("%d failures not handled yet", ci.NumPending+uint64(ci.NumAckPending))
		}
		return err
	})
	if n := len(srv.Messages()); n != 5 {
		t.Fatalf("%d emails before the digest, want the first 5 alerts", n)
	}
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		return errors.Join(
			metricstest.Want(g.Registry, "triggerflow_notifier_alerts_total", map[string]string{"outcome": "sent"}, 5),
			metricstest.Want(g.Registry, "triggerflow_notifier_alerts_total", map[string]string{"outcome": "digested"}, 195),
			metricstest.Want(g.Registry, "triggerflow_notifier_emails_total", map[string]string{"kind": "alert", "outcome": "sent"}, 5),
			// the alerts waiting for the digest: the digest consumer's lag
			metricstest.Want(g.Registry, "triggerflow_consumer_pending_messages", map[string]string{"durable": "notifier-digest"}, 195),
		)
	})
	g.Stop() // the window ends: the digest goes out
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"triggerflow_notifier_emails_total", map[string]string{"kind": "digest", "outcome": "sent"}, 1},
		{"triggerflow_notifier_digest_alerts_sent_total", nil, 195},
	} {
		if err := metricstest.Want(g.Registry, w.name, w.labels, w.want); err != nil {
			t.Error(err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 6 {
		t.Fatalf("%d emails, want 5 alerts and 1 digest", len(msgs))
	}
	var digest string
	for _, m := range msgs {
		body, _ := io.ReadAll(m.Parsed.Body)
		if strings.Contains(m.Parsed.Header.Get("Subject"), "digest") {
			digest = decodeQP(m.Parsed.Header.Get("Content-Transfer-Encoding"), body)
			continue
		}
		for _, want := range []string{"itsm operation create", "Ticket: 90", "Attempts: 8", "503 Service Unavailable", "sub --stream SCW_DLQ --all -T --wait 2s"} {
			if !strings.Contains(decodeQP(m.Parsed.Header.Get("Content-Transfer-Encoding"), body), want) {
				t.Errorf("alert lacks %q:\n%s", want, body)
			}
		}
	}
	if !strings.Contains(digest, "195 failures") || strings.Count(digest, "What failed:") != 195 {
		t.Fatalf("digest:\n%.600s", digest)
	}
}

// A trigger the dispatcher dead-lettered alerts once (a redelivery or a second copy of
// the same dead letter does not alert again), naming the ticket, the error and the
// commands that find it.
func TestDeadLetteredTriggerAlertsOnce(t *testing.T) {
	ns := natstest.RunJetStream(t)
	srv, smtpCfg := smtpServer(t)
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = smtpCfg
		c.Notifications.OnFailure = []string{"ops@example.com"}
	}))
	hdr := map[string]string{events.HdrService: "dispatcher", events.HdrTicketID: "77", events.HdrTriggerID: "trig77",
		events.HdrEvent: "ADVANCE", events.HdrError: "securechange: ticket 77 not found in SecureChange (404)"}
	g.Publish(natstest.NewMsg("scw.dlq.dispatcher.77", []byte(`{"id":"trig77","event":"ADVANCE"}`), hdr, "dlq-1"))
	g.Publish(natstest.NewMsg("scw.dlq.dispatcher.77", []byte(`{"id":"trig77","event":"ADVANCE"}`), hdr, "dlq-2"))
	g.Publish(natstest.NewMsg("scw.dlq.dispatcher.78", []byte(`{"id":"trig78","event":"CREATE"}`), map[string]string{events.HdrService: "dispatcher", events.HdrTicketID: "78", events.HdrTriggerID: "trig78", events.HdrError: "x"}, "dlq-3"))
	srv.WaitMessages(t, 2, time.Minute)
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		info, err := g.JS.Consumer(t.Context(), events.StreamDLQ, "notifier-dlq")
		if err != nil {
			return err
		}
		ci, err := info.Info(t.Context())
		if err == nil && (ci.NumPending != 0 || ci.NumAckPending != 0) {
			err = fmt.Errorf("dead letters not all handled yet")
		}
		return err
	})
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d alerts, want 2 (one per trigger)", len(msgs))
	}
	body, _ := io.ReadAll(msgs[0].Parsed.Body)
	text := decodeQP(msgs[0].Parsed.Header.Get("Content-Transfer-Encoding"), body)
	for _, want := range []string{"Ticket: 77", "not found in SecureChange (404)", "sub --stream SCW_DLQ --all -T --wait 2s 'scw.dlq.dispatcher.77'"} {
		if !strings.Contains(text, want) {
			t.Errorf("alert lacks %q:\n%s", want, text)
		}
	}
}

// Alert recipients requester and handler are resolved through SecureChange: the ticket,
// then the handler's address from the users API.
func TestAlertToRequesterAndHandler(t *testing.T) {
	ns := natstest.RunJetStream(t)
	srv, smtpCfg := smtpServer(t)
	t.Setenv("SC_TEST_PASSWORD", "sc")
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = smtpCfg
		c.SecureChange = config.SecureChange{URL: usersAPI(t), User: "api", PasswordEnv: "SC_TEST_PASSWORD"}
		c.Notifications.OnFailure = []string{"requester", "handler", "ops@example.com"}
	}))
	r := events.Result{OperationID: "op-4343", TriggerID: "t", Ticket: "4343", Event: events.Create, Kind: events.OpITSM,
		Target: "servicenow", Route: "open-change", Action: "create", Status: events.ResultFailed, Error: "HTTP 400"}
	b, _ := r.Marshal()
	g.Publish(natstest.NewMsg(r.Subject(), b, r.Headers(), r.ID()))
	m := srv.WaitMessages(t, 1, time.Minute)[0]
	if got := strings.Join(m.To, ","); got != "a.smith@example.com,b.jones@example.com,ops@example.com" {
		t.Fatalf("alert recipients %s", got)
	}
}

// The digest goes out when its window ends, without a stop.
func TestDigestSentAtWindowEnd(t *testing.T) {
	ns := natstest.RunJetStream(t)
	srv, smtpCfg := smtpServer(t)
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = smtpCfg
		c.Notifications = config.Notifications{OnFailure: []string{"ops@example.com"}, DigestAfter: 1, DigestWindow: 5 * time.Second}
	}))
	for i := range 3 {
		r := events.Result{OperationID: fmt.Sprintf("w%d", i), Ticket: fmt.Sprint(700 + i), Event: events.Create, Kind: events.OpITSM,
			Target: "servicenow", Route: "r", Action: "a", Status: events.ResultFailed, Error: "boom"}
		b, _ := r.Marshal()
		g.Publish(natstest.NewMsg(r.Subject(), b, r.Headers(), r.ID()))
	}
	var digests int
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		seen := 0
		for _, m := range srv.Messages() {
			seen += strings.Count(string(m.Data), "What failed:")
		}
		if seen < 3 {
			return fmt.Errorf("%d of 3 failures reported", seen)
		}
		return nil
	})
	for _, m := range srv.Messages() {
		if strings.Contains(m.Parsed.Header.Get("Subject"), "digest") {
			digests++
		}
	}
	if digests == 0 {
		t.Fatal("no digest: 3 failures in one window with digest_after 1 must produce one")
	}
}
