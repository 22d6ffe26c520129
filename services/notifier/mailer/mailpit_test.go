package mailer_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
	"github.com/triggerflow/triggerflow/services/notifier/mailpittest"
)

// Against Mailpit, a strict SMTP server: it refuses "MAIL FROM:addr" without angle
// brackets (501) and decodes what it stores on its own.

// mailpitMessage is the email the Mailpit tests send: multipart text and HTML, To and
// Cc, the long UTF-8 subject.
func mailpitMessage(id string) mailer.Message {
	return mailer.Message{
		To:        []string{"Alice Müller <alice@example.com>", "bob@example.com"},
		Cc:        []string{"Ops Team <ops@example.com>"},
		Subject:   longSubject,
		Text:      "Grüße aus Zürich\nZeile 2 – ✓ 変更 🚀\n",
		HTML:      "<p>Grüße aus Zürich</p><p>Zeile 2 – ✓ 変更 🚀</p>",
		Headers:   map[string]string{"X-Triggerflow-Operation": id},
		MessageID: "<" + id + "@triggerflow>",
	}
}

func TestMailpit(t *testing.T) {
	t.Parallel()
	crt := natstest.SelfSignedCert(t)
	cert, caFile := crt.TLS, crt.CertFile
	for _, tc := range []struct {
		name string
		opts []mailpittest.Option
		auth string // "" without STARTTLS and AUTH
	}{
		{name: "plain"},
		{name: "starttls+auth plain", opts: []mailpittest.Option{mailpittest.WithSTARTTLS(cert), mailpittest.WithAuth(user, password)}, auth: "plain"},
		{name: "starttls+auth login", opts: []mailpittest.Option{mailpittest.WithSTARTTLS(cert), mailpittest.WithAuth(user, password)}, auth: "login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mp := mailpittest.Start(t, tc.opts...)
			c := config.SMTP{
				Host: mp.SMTPHost, Port: mp.SMTPPort, StartTLS: ptr(false),
				From: "triggerflow <triggerflow@example.com>", Timeout: wait, HELO: "test.example",
			}
			wantUser := ""
			if tc.auth != "" {
				c.StartTLS, c.TLSConfig = nil, config.ClientTLS{CAFile: caFile}
				c.Username, c.PasswordFile, c.Auth = user, passwordFile(t, password), tc.auth
				wantUser = user
			}
			m := newMailer(t, c, nil)
			if err := m.Send(context.Background(), mailpitMessage("op-1")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := mp.WaitMessages(t, 1, wait)
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			got := msgs[0]

			// The envelope, as Mailpit read it and as it recorded it.
			cmds := mp.Commands(t)
			for _, want := range []string{
				"MAIL FROM:<triggerflow@example.com> BODY=8BITMIME",
				"RCPT TO:<alice@example.com>", "RCPT TO:<bob@example.com>", "RCPT TO:<ops@example.com>",
			} {
				if !slices.Contains(cmds, want) {
					t.Errorf("Mailpit did not read %q; it read %q", want, cmds)
				}
			}
			if got.ReturnPath != "triggerflow@example.com" {
				t.Errorf("envelope sender (Return-Path) = %q", got.ReturnPath)
			}
			if rcpts := got.Recipients(); !slices.Equal(rcpts, []string{"alice@example.com", "bob@example.com", "ops@example.com"}) || len(got.Bcc) != 0 {
				t.Errorf("recipients = %q, Bcc %+v: want To then Cc, and no envelope-only recipient", rcpts, got.Bcc)
			}
			if got.Username != wantUser {
				t.Errorf("authenticated as %q, want %q", got.Username, wantUser)
			}

			// The headers and bodies, as Mailpit decoded them.
			if got.From != (mailpittest.Address{Name: "triggerflow", Address: "triggerflow@example.com"}) {
				t.Errorf("From = %+v", got.From)
			}
			if len(got.To) != 2 || got.To[0] != (mailpittest.Address{Name: "Alice Müller", Address: "alice@example.com"}) ||
				len(got.Cc) != 1 || got.Cc[0] != (mailpittest.Address{Name: "Ops Team", Address: "ops@example.com"}) {
				t.Errorf("To = %+v, Cc = %+v", got.To, got.Cc)
			}
			if got.Subject != longSubject {
				t.Errorf("Subject = %q\n     want %q", got.Subject, longSubject)
			}
			want := mailpitMessage("op-1")
			if text := strings.ReplaceAll(got.Text, "\r\n", "\n"); text != want.Text {
				t.Errorf("Text = %q, want %q", text, want.Text)
			}
			if got.HTML != want.HTML {
				t.Errorf("HTML = %q, want %q", got.HTML, want.HTML)
			}
			if got.MessageID != "op-1@triggerflow" || !slices.Equal(got.Headers["X-Triggerflow-Operation"], []string{"op-1"}) {
				t.Errorf("Message-ID %q, X-Triggerflow-Operation %q", got.MessageID, got.Headers["X-Triggerflow-Operation"])
			}
			if ct := strings.Join(got.Headers["Content-Type"], ""); !strings.HasPrefix(ct, "multipart/alternative;") {
				t.Errorf("Content-Type = %q", ct)
			}
			checkSubject(t, got.Raw, longSubject)
		})
	}
}

// TestMailpitDownThenUp stops Mailpit under a mailer with an open connection: sends fail
// with a transient (retryable) error while it is down, and the first send after it is
// up again on the same port succeeds on a new connection.
func TestMailpitDownThenUp(t *testing.T) {
	t.Parallel()
	mp := mailpittest.Start(t)
	m := newMailer(t, config.SMTP{
		Host: mp.SMTPHost, Port: mp.SMTPPort, StartTLS: ptr(false),
		From: "triggerflow@example.com", Timeout: wait,
	}, nil)
	if err := m.Send(context.Background(), mailpitMessage("op-1")); err != nil {
		t.Fatalf("Send before the stop: %v", err)
	}
	mp.WaitMessages(t, 1, wait)

	mp.Stop()
	for i, what := range []string{"on the connection the server dropped", "dialling a server that is down"} {
		err := m.Send(context.Background(), mailpitMessage("op-down-"+itoa(i)))
		if err == nil || failure.IsPermanent(err) {
			t.Fatalf("Send %s: err = %v, want a transient error", what, err)
		}
		t.Logf("Send %s: %v", what, err)
	}

	mp.Start() // same port, returns once Mailpit accepts SMTP
	if err := m.Send(context.Background(), mailpitMessage("op-2")); err != nil {
		t.Fatalf("Send after the restart: %v", err)
	}
	msgs := mp.WaitMessages(t, 2, wait)
	var ids []string
	for _, msg := range msgs {
		ids = append(ids, msg.MessageID)
	}
	if !slices.Equal(ids, []string{"op-1@triggerflow", "op-2@triggerflow"}) {
		t.Errorf("stored %q, want op-1 and op-2 only", ids)
	}
}
