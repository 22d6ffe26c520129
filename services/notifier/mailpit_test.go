package notifier_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/mailpittest"
)

// mailpitSMTP is the notifier's config for a Mailpit server (plain SMTP on loopback).
func mailpitSMTP(mp *mailpittest.Mailpit) config.SMTP {
	return config.SMTP{Host: mp.SMTPHost, Port: mp.SMTPPort, StartTLS: new(false), From: "triggerflow <triggerflow@example.com>", Timeout: 5 * time.Second}
}

// failure publishes a failed result of ticket, as itsm-sync does.
func failure(t *testing.T, g *testrig.Rig, ticket string) events.Result {
	t.Helper()
	r := events.Result{OperationID: "op-" + ticket, TriggerID: "trig-" + ticket, Ticket: ticket, Event: events.Create, Kind: events.OpITSM,
		Target: "servicenow", Route: "open-change", Action: "create", Status: events.ResultFailed, Error: "400 Bad Request", Parks: true,
		Attempts: make([]events.Attempt, 1)}
	b, _ := r.Marshal()
	g.Publish(natstest.NewMsg(r.Subject(), b, r.Headers(), r.ID()))
	return r
}

// byTicket counts Mailpit's messages per X-Triggerflow-Ticket header ("digest" for digests).
func byTicket(t *testing.T, mp *mailpittest.Mailpit) map[string]int {
	out := map[string]int{}
	for _, m := range mp.Messages(t) {
		if strings.Contains(m.Subject, "(digest)") {
			out["digest"]++
			continue
		}
		out[strings.Join(m.Headers["X-Triggerflow-Ticket"], ",")]++
	}
	return out
}

// An email operation and a failure alert are accepted by a standard SMTP server
// (Mailpit), with the envelope RFC 5321 asks for.
func TestMailpitAcceptsEmailsAndAlerts(t *testing.T) {
	ns := natstest.RunJetStream(t)
	mp := mailpittest.Start(t)
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = mailpitSMTP(mp)
		c.Notifications.OnFailure = []string{"ops@example.com"}
	}))
	g.PublishOps(nil, "", emailOp("5101", events.EmailSpec{To: []string{"cab@example.com"}, Cc: []string{"requester"}, Subject: "Ticket #ticket_id# – #ticket_subject# ✓"}))
	failure(t, g, "5102")
	msgs := mp.WaitMessages(t, 2, time.Minute)
	got := map[string]mailpittest.Message{}
	for _, m := range msgs {
		got[strings.Join(m.Headers["X-Triggerflow-Ticket"], ",")] = m
	}
	email, alert := got["5101"], got["5102"]
	if email.ReturnPath != "triggerflow@example.com" || strings.Join(email.Recipients(), ",") != "cab@example.com,a.smith@example.com" ||
		email.Subject != "Ticket 5101 – Zugriff für Web → DB ✓" {
		t.Errorf("email: return path %q, recipients %v, subject %q", email.ReturnPath, email.Recipients(), email.Subject)
	}
	if strings.Join(alert.Recipients(), ",") != "ops@example.com" || !strings.Contains(alert.Text, "Ticket: 5102") ||
		!strings.Contains(alert.Text, "parked behind it") {
		t.Errorf("alert: recipients %v, text:\n%s", alert.Recipients(), alert.Text)
	}
	for _, c := range mp.Commands(t) {
		if u := strings.ToUpper(c); (strings.HasPrefix(u, "MAIL FROM:") || strings.HasPrefix(u, "RCPT TO:")) && !strings.Contains(c, ":<") {
			t.Errorf("envelope command without angle brackets: %q", c)
		}
	}
}

// The SMTP server is down for a while: the alerts keep being retried (logged, counted,
// not against retry.attempts: it is an outage), and once it is up each arrives exactly
// once.
func TestAlertsWaitForTheSMTPServer(t *testing.T) {
	ns := natstest.RunJetStream(t)
	mp := mailpittest.Start(t)
	mp.Stop()
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), func(c *config.Config) {
		c.SMTP = mailpitSMTP(mp)
		c.Notifications = config.Notifications{OnFailure: []string{"ops@example.com"}, DigestAfter: 10, DigestWindow: time.Hour}
		c.Notifier.Retry = config.Retry{Attempts: 2, Backoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	}))
	tickets := []string{"5201", "5202", "5203", "5204", "5205"}
	for _, tk := range tickets {
		failure(t, g, tk)
	}
	// Retried while down, far more often than retry.attempts allows for a failing alert.
	natstest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		if n := strings.Count(g.Logs.String(), "destination down; will retry"); n < 3*len(tickets) {
			return fmt.Errorf("%d retries logged so far", n)
		}
		return nil
	})
	mp.Start()
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if got := byTicket(t, mp); len(got) < len(tickets) {
			return fmt.Errorf("alerts so far: %v", got)
		}
		return nil
	})
	g.Stop() // nothing pending: no digest either
	got := byTicket(t, mp)
	for _, tk := range tickets {
		if got[tk] != 1 {
			t.Errorf("ticket %s alerted %d times, want once: %v", tk, got[tk], got)
		}
	}
	if len(got) != len(tickets) {
		t.Errorf("emails %v, want one alert per ticket and nothing else", got)
	}
	if n := len(natstest.Msgs(t, g.JS, events.StreamDLQ, "scw.dlq.notifier.>")); n != 0 {
		t.Errorf("%d alerts dead-lettered", n)
	}
}

// A digest pending when the notifier stops (the SMTP server down at that moment) is not
// lost: it is kept in SCW_ALERTS, and the next notifier sends it, once.
func TestPendingDigestSurvivesARestart(t *testing.T) {
	ns := natstest.RunJetStream(t)
	mp := mailpittest.Start(t)
	mutate := func(c *config.Config) {
		c.SMTP = mailpitSMTP(mp)
		c.Notifications = config.Notifications{OnFailure: []string{"ops@example.com"}, DigestAfter: 2, DigestWindow: time.Hour}
	}
	g := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), mutate))
	for i := range 5 {
		failure(t, g, fmt.Sprint(5300+i))
	}
	mp.WaitMessages(t, 2, time.Minute) // the first two, one by one
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if n := len(natstest.Msgs(t, g.JS, events.StreamAlerts, "scw.alert.digest.>")); n != 3 {
			return fmt.Errorf("%d alerts queued for the digest, want 3", n)
		}
		return nil
	})
	mp.Stop()
	g.Stop() // its last digest attempt fails: the SMTP server is down
	if !strings.Contains(g.Logs.String(), "alert digest not sent; kept in SCW_ALERTS") {
		t.Fatalf("the failed digest was not reported:\n%s", g.Logs.String())
	}
	mp.Start()
	g2 := testrig.Start(t, "notifier", testConfig(ns.ClientURL(), mutate))
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if byTicket(t, mp)["digest"] == 0 {
			return fmt.Errorf("no digest yet")
		}
		return nil
	})
	g2.Stop()
	got := byTicket(t, mp)
	if got["digest"] != 1 || len(got) != 3 {
		t.Fatalf("emails %v, want two alerts and one digest", got)
	}
	for _, m := range mp.Messages(t) {
		if strings.Contains(m.Subject, "(digest)") && (strings.Count(m.Text, "What failed:") != 3 || !strings.Contains(m.Subject, "3 failures")) {
			t.Fatalf("digest %q:\n%s", m.Subject, m.Text)
		}
	}
}
