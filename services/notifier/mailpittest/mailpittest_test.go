package mailpittest_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/notifier/mailpittest"
)

const wait = 30 * time.Second

const message = "From: Sender <sender@example.com>\r\n" +
	"To: Rcpt <rcpt@example.com>\r\n" +
	"Subject: =?UTF-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"Message-ID: <harness-1@example.com>\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"\r\n" +
	"hello\r\n"

// send delivers message with net/smtp (which writes RFC 5321 paths), optionally over
// STARTTLS with AUTH PLAIN.
func send(t *testing.T, addr string, tc *tls.Config, user, pass string, rcpts ...string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if tc != nil {
		if err := c.StartTLS(tc); err != nil {
			return err
		}
	}
	if user != "" {
		if err := c.Auth(smtp.PlainAuth("", user, pass, "127.0.0.1")); err != nil {
			return err
		}
	}
	if err := c.Mail("sender@example.com"); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(message)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// rawSMTP sends lines and returns the reply to each (the greeting first).
func rawSMTP(t *testing.T, addr string, lines ...string) []string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	r := textproto.NewReader(bufio.NewReader(c))
	read := func() string {
		var reply []string
		for {
			l, err := r.ReadLine()
			if err != nil {
				t.Fatalf("read reply: %v", err)
			}
			reply = append(reply, l)
			if len(l) < 4 || l[3] != '-' {
				return strings.Join(reply, "\n")
			}
		}
	}
	replies := []string{read()}
	for _, l := range lines {
		if _, err := c.Write([]byte(l + "\r\n")); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, read())
	}
	return replies
}

func TestPlainSMTPAndAPI(t *testing.T) {
	t.Parallel()
	mp := mailpittest.Start(t)
	if mp.SMTPHost != "127.0.0.1" || mp.SMTPPort == 0 || mp.Addr != net.JoinHostPort(mp.SMTPHost, itoa(mp.SMTPPort)) {
		t.Fatalf("SMTPHost %q, SMTPPort %d, Addr %q", mp.SMTPHost, mp.SMTPPort, mp.Addr)
	}
	if err := send(t, mp.Addr, nil, "", "", "rcpt@example.com", "hidden@example.com"); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := mp.WaitMessages(t, 1, wait)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.ReturnPath != "sender@example.com" || m.From.Address != "sender@example.com" || m.From.Name != "Sender" {
		t.Errorf("ReturnPath %q, From %+v", m.ReturnPath, m.From)
	}
	if got := m.Recipients(); !slices.Equal(got, []string{"rcpt@example.com", "hidden@example.com"}) {
		t.Errorf("recipients %v", got)
	}
	if len(m.Bcc) != 1 || m.Bcc[0].Address != "hidden@example.com" {
		t.Errorf("Bcc %+v: want the envelope-only recipient", m.Bcc)
	}
	if m.Subject != "Grüße" || strings.TrimSpace(m.Text) != "hello" || m.MessageID != "harness-1@example.com" || m.Username != "" {
		t.Errorf("Subject %q, Text %q, MessageID %q, Username %q", m.Subject, m.Text, m.MessageID, m.Username)
	}
	if got := m.Headers["Subject"]; !slices.Equal(got, []string{"=?UTF-8?q?Gr=C3=BC=C3=9Fe?="}) {
		t.Errorf("Headers[Subject] = %q, want it raw", got)
	}
	if !strings.Contains(string(m.Raw), "\r\nhello\r\n") || !strings.Contains(string(m.Raw), "Return-Path: <sender@example.com>") {
		t.Errorf("Raw:\n%s", m.Raw)
	}
	cmds := mp.Commands(t)
	for _, want := range []string{"MAIL FROM:<sender@example.com> BODY=8BITMIME SMTPUTF8", "RCPT TO:<rcpt@example.com>", "RCPT TO:<hidden@example.com>", "DATA"} {
		if !slices.Contains(cmds, want) {
			t.Errorf("Commands() = %q, want %q in it", cmds, want)
		}
	}
	mp.DeleteAll(t)
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("%d messages after DeleteAll", n)
	}
}

// TestStrictEnvelope shows why this harness exists: Mailpit refuses the envelope
// without angle brackets, which smtptest (go-smtp) accepts.
func TestStrictEnvelope(t *testing.T) {
	t.Parallel()
	mp := mailpittest.Start(t)
	replies := rawSMTP(t, mp.Addr, "EHLO test", "MAIL FROM:sender@example.com", "MAIL FROM:<sender@example.com>", "RCPT TO:rcpt@example.com", "RCPT TO:<rcpt@example.com>", "QUIT")
	for i, want := range []string{"220 ", "250-", "501 ", "250 ", "501 ", "250 ", "221 "} {
		if !strings.HasPrefix(replies[i], want) {
			t.Errorf("reply %d = %q, want %q…", i, replies[i], want)
		}
	}
	t.Logf("MAIL FROM without brackets: %s", replies[2])
}

func TestSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	crt := natstest.SelfSignedCert(t)
	cert, pool := crt.TLS, crt.Pool()
	mp := mailpittest.Start(t, mailpittest.WithSTARTTLS(cert), mailpittest.WithAuth("user", "s3cret"))
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}

	// STARTTLS is required before MAIL, AUTH before MAIL, and the password is checked.
	if replies := rawSMTP(t, mp.Addr, "EHLO test", "MAIL FROM:<sender@example.com>"); !strings.HasPrefix(replies[2], "530 ") {
		t.Errorf("MAIL without STARTTLS: %q, want 530", replies[2])
	}
	if err := send(t, mp.Addr, tc, "", "", "rcpt@example.com"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Errorf("without AUTH: %v, want 530", err)
	}
	if err := send(t, mp.Addr, tc, "user", "wrong", "rcpt@example.com"); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v, want 535", err)
	}
	if err := send(t, mp.Addr, tc, "user", "s3cret", "rcpt@example.com"); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := mp.WaitMessages(t, 1, wait)[0]
	if m.Username != "user" || m.ReturnPath != "sender@example.com" {
		t.Errorf("Username %q, ReturnPath %q", m.Username, m.ReturnPath)
	}
}

func TestStopStartSamePorts(t *testing.T) {
	t.Parallel()
	mp := mailpittest.Start(t)
	if err := send(t, mp.Addr, nil, "", "", "rcpt@example.com"); err != nil {
		t.Fatal(err)
	}
	mp.WaitMessages(t, 1, wait)
	addr, api := mp.Addr, mp.APIURL
	mp.Stop()
	if err := mp.Ready(); err == nil {
		t.Fatal("Ready after Stop")
	}
	if c, err := net.DialTimeout("tcp", addr, wait); err == nil {
		_ = c.Close()
		t.Fatal("SMTP port accepts connections after Stop")
	}
	mp.Stop() // stopping twice does nothing
	mp.Start()
	if mp.Addr != addr || mp.APIURL != api {
		t.Fatalf("restarted on %s %s, want %s %s", mp.Addr, mp.APIURL, addr, api)
	}
	if err := send(t, mp.Addr, nil, "", "", "rcpt@example.com"); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	if n := len(mp.WaitMessages(t, 2, wait)); n != 2 {
		t.Errorf("%d messages, want 2 (the database survives a restart)", n)
	}
	mp.Kill()
	mp.Start()
	mp.WaitReady(t, wait)
}

func itoa(i int) string { return strconv.Itoa(i) }
