package mailer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

const (
	user     = "triggerflow"
	password = "s3cr3t-Pa55word"
	wait     = 30 * time.Second
)

// passwordFile writes the password where smtp.password_file can point.
func passwordFile(t *testing.T, pass string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(f, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// starttlsServer is a server that requires STARTTLS and AUTH, and the config to reach it.
func starttlsServer(t *testing.T) (*smtptest.Server, config.SMTP) {
	t.Helper()
	crt := natstest.SelfSignedCert(t)
	cert, caFile := crt.TLS, crt.CertFile
	srv := smtptest.New(t, smtptest.WithSTARTTLS(cert), smtptest.WithAuth(user, password))
	return srv, config.SMTP{
		Host: srv.Host, Port: srv.Port, TLSConfig: config.ClientTLS{CAFile: caFile},
		Username: user, PasswordFile: passwordFile(t, password), Auth: "plain",
		From: "triggerflow <triggerflow@example.com>", Timeout: wait, HELO: "test.example",
	}
}

// newMailer builds the mailer of c, which passes config validation as at start-up.
func newMailer(t *testing.T, c config.SMTP, log *slog.Logger) *mailer.Mailer {
	t.Helper()
	cfg := config.Default()
	cfg.SMTP = c
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	m, err := mailer.New(c, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func simple(to ...string) mailer.Message {
	return mailer.Message{To: to, Subject: "hello", Text: "body\n"}
}

func TestSendAuthOverSTARTTLS(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"plain", "login", "cram-md5"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			srv, c := starttlsServer(t)
			c.Auth = auth
			m := newMailer(t, c, nil)
			if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.WaitMessages(t, 1, wait)
			if len(got) != 1 || got[0].From != "triggerflow@example.com" || !slices.Equal(got[0].To, []string{"alice@example.com"}) {
				t.Fatalf("envelope: %+v", got)
			}
			if want := strings.ToUpper(auth); got[0].Auth != want {
				t.Errorf("authenticated with %q, want %q", got[0].Auth, want)
			}
		})
	}
}

func TestSendHeadersAndTextBody(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	subject := "Ticket 1234 – Zugriff genehmigt ✓"
	err := m.Send(context.Background(), mailer.Message{
		To: []string{"Alice <alice@example.com>", "bob@example.com"}, Cc: []string{"ops@example.com", "BOB@example.com"},
		Subject: subject, Text: "Grüße\nline 2\n",
		Headers:   map[string]string{"X-Triggerflow-Operation": "op-1", "X-Triggerflow-Ticket": "1234"},
		MessageID: "<op-1@triggerflow>",
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := srv.WaitMessages(t, 1, wait)[0]
	if want := []string{"alice@example.com", "bob@example.com", "ops@example.com"}; !slices.Equal(msg.To, want) {
		t.Errorf("envelope recipients = %v, want %v (To then Cc, without duplicates)", msg.To, want)
	}
	if msg.Parsed == nil {
		t.Fatalf("message does not parse: %v\n%s", msg.ParseErr, msg.Data)
	}
	h := msg.Parsed.Header
	for k, want := range map[string]string{
		"Message-Id":              "<op-1@triggerflow>",
		"X-Triggerflow-Operation": "op-1",
		"X-Triggerflow-Ticket":    "1234",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	addrs := func(k string) []string {
		l, err := h.AddressList(k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		var out []string
		for _, a := range l {
			out = append(out, a.Address)
		}
		return out
	}
	if got := addrs("From"); !slices.Equal(got, []string{"triggerflow@example.com"}) {
		t.Errorf("From = %v", got)
	}
	if got := addrs("To"); !slices.Equal(got, []string{"alice@example.com", "bob@example.com"}) {
		t.Errorf("To = %v", got)
	}
	if got := addrs("Cc"); !slices.Equal(got, []string{"ops@example.com", "BOB@example.com"}) {
		t.Errorf("Cc = %v", got)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	raw := h.Get("Subject")
	if !strings.Contains(raw, "=?UTF-8?") {
		t.Errorf("Subject %q is not RFC 2047 encoded", raw)
	}
	var dec mime.WordDecoder
	if got, err := dec.DecodeHeader(raw); err != nil || got != subject {
		t.Errorf("Subject decodes to %q, %v; want %q", got, err, subject)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
	if got := decodeBody(t, h.Get("Content-Transfer-Encoding"), msg.Parsed.Body); got != "Grüße\r\nline 2\r\n" && got != "Grüße\nline 2\n" {
		t.Errorf("body = %q", got)
	}
	if strings.Contains(string(msg.Data), password) {
		t.Error("the password is in the message")
	}
}

func TestSendHTMLIsMultipartAlternative(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	if err := m.Send(context.Background(), mailer.Message{
		To: []string{"alice@example.com"}, Subject: "html", Text: "plain text", HTML: "<p>html ✓</p>",
	}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := srv.WaitMessages(t, 1, wait)[0]
	mt, params, err := mime.ParseMediaType(msg.Parsed.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, %v", msg.Parsed.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(msg.Parsed.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		bodies = append(bodies, decodeBody(t, p.Header.Get("Content-Transfer-Encoding"), p))
	}
	if !slices.Equal(types, []string{"text/plain", "text/html"}) {
		t.Fatalf("parts = %v, want text/plain then text/html", types)
	}
	if strings.TrimSpace(bodies[0]) != "plain text" || strings.TrimSpace(bodies[1]) != "<p>html ✓</p>" {
		t.Errorf("bodies = %q", bodies)
	}
}

// decodeBody reads a body in the transfer encoding cte. multipart.Reader already
// decodes quoted-printable parts (and drops the header).
func decodeBody(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		b, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatal(err)
		}
	case "base64":
		t.Fatalf("unexpected base64 body")
	}
	return string(b)
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	crt := natstest.SelfSignedCert(t)
	cert, caFile := crt.TLS, crt.CertFile
	srv := smtptest.New(t, smtptest.WithImplicitTLS(cert), smtptest.WithAuth(user, password))
	m := newMailer(t, config.SMTP{
		Host: srv.Host, Port: srv.Port, TLS: true, TLSConfig: config.ClientTLS{CAFile: caFile},
		Username: user, PasswordFile: passwordFile(t, password), Auth: "login",
		From: "triggerflow@example.com", Timeout: wait,
	}, nil)
	if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	srv.WaitMessages(t, 1, wait)
}

func TestUnknownCertificateIsPermanent(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	otherCA := natstest.SelfSignedCert(t).CertFile
	for name, tc := range map[string]config.ClientTLS{"system roots": {}, "other ca_file": {CAFile: otherCA}} {
		c := c
		c.TLSConfig = tc
		m := newMailer(t, c, nil)
		err := m.Send(context.Background(), simple("alice@example.com"))
		if !failure.IsPermanent(err) || !strings.Contains(err.Error(), "smtp.tls_config.ca_file") {
			t.Errorf("%s: err = %v, want permanent naming smtp.tls_config.ca_file", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	c.TLSConfig = config.ClientTLS{InsecureSkipVerify: true}
	var logs natstest.LogBuffer
	m := newMailer(t, c, slog.New(slog.NewTextHandler(&logs, nil)))
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "smtp.tls_config.insecure_skip_verify") {
		t.Errorf("log = %q, want a WARN about insecure_skip_verify", out)
	}
	if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	srv.WaitMessages(t, 1, wait)
	if strings.Contains(logs.String(), password) {
		t.Error("the password is in the log")
	}
}

func TestWrongPasswordIsPermanentAndSecret(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"plain", "login", "cram-md5"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			srv, c := starttlsServer(t)
			const wrong = "wr0ng-Pa55word"
			c.Auth, c.PasswordFile = auth, passwordFile(t, wrong)
			var logs natstest.LogBuffer
			m := newMailer(t, c, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			err := m.Send(context.Background(), simple("alice@example.com"))
			if !failure.IsPermanent(err) || !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), "smtp.password_env/password_file") {
				t.Fatalf("err = %v, want permanent 535 naming the password keys", err)
			}
			t.Log(err)
			for _, secret := range []string{wrong, password} {
				if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
					t.Errorf("a password leaked: err=%q log=%q", err, logs.String())
				}
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d messages stored", n)
			}
		})
	}
}

func TestTransientReplyThenSuccess(t *testing.T) {
	t.Parallel()
	for _, code := range []int{421, 450, 451, 452} {
		t.Run(itoa(code), func(t *testing.T) {
			t.Parallel()
			srv, c := starttlsServer(t)
			m := newMailer(t, c, nil)
			srv.FailNext(1, code, "try again later")
			err := m.Send(context.Background(), simple("alice@example.com"))
			if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), itoa(code)) {
				t.Fatalf("first Send: err = %v, want a transient %d", err, code)
			}
			if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
				t.Fatalf("second Send: %v", err)
			}
			if got := srv.WaitMessages(t, 1, wait); len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
		})
	}
}

func TestPermanentReplies(t *testing.T) {
	t.Parallel()
	for _, code := range []int{550, 553, 554} {
		t.Run(itoa(code), func(t *testing.T) {
			t.Parallel()
			srv, c := starttlsServer(t)
			m := newMailer(t, c, nil)
			srv.FailNext(1, code, "no")
			if err := m.Send(context.Background(), simple("alice@example.com")); !failure.IsPermanent(err) || !strings.Contains(err.Error(), itoa(code)) {
				t.Fatalf("err = %v, want permanent %d", err, code)
			}
			// The connection survives a refused transaction.
			if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
				t.Fatalf("next Send: %v", err)
			}
			srv.WaitMessages(t, 1, wait)
			if n := srv.Sessions(); n != 1 {
				t.Errorf("Sessions = %d, want 1", n)
			}
		})
	}
}

func TestRejectedRecipients(t *testing.T) {
	t.Parallel()
	t.Run("all rejected", func(t *testing.T) {
		t.Parallel()
		srv, c := starttlsServer(t)
		srv.RejectRecipient("gone@example.com", 550)
		m := newMailer(t, c, nil)
		err := m.Send(context.Background(), simple("gone@example.com"))
		if !failure.IsPermanent(err) || !strings.Contains(err.Error(), "gone@example.com") {
			t.Fatalf("err = %v, want permanent naming the recipient", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("%d messages stored", n)
		}
	})
	t.Run("some rejected", func(t *testing.T) {
		t.Parallel()
		srv, c := starttlsServer(t)
		srv.RejectRecipient("gone@example.com", 550)
		var logs natstest.LogBuffer
		m := newMailer(t, c, slog.New(slog.NewTextHandler(&logs, nil)))
		msg := simple("alice@example.com")
		msg.Cc = []string{"gone@example.com"}
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := srv.WaitMessages(t, 1, wait)
		if !slices.Equal(got[0].To, []string{"alice@example.com"}) {
			t.Errorf("envelope recipients = %v", got[0].To)
		}
		if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "gone@example.com") {
			t.Errorf("log = %q, want a WARN naming the rejected recipient", out)
		}
	})
	t.Run("one temporarily refused", func(t *testing.T) {
		t.Parallel()
		srv, c := starttlsServer(t)
		srv.RejectRecipient("full@example.com", 452)
		m := newMailer(t, c, nil)
		msg := simple("alice@example.com", "full@example.com")
		if err := m.Send(context.Background(), msg); err == nil || failure.IsPermanent(err) {
			t.Fatalf("err = %v, want transient", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("%d messages stored, want none (a retry sends to all)", n)
		}
	})
}

func TestInvalidMessageIsPermanent(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	for name, tc := range map[string]struct {
		msg  mailer.Message
		want string
	}{
		"bad to":        {mailer.Message{To: []string{"alice@example.com", "not an address"}}, `to[1]: "not an address"`},
		"bad cc":        {mailer.Message{To: []string{"a@example.com"}, Cc: []string{"x@"}}, `cc[0]: "x@"`},
		"no recipient":  {mailer.Message{Subject: "x"}, "no recipient"},
		"subject crlf":  {mailer.Message{To: []string{"a@example.com"}, Subject: "a\r\nBcc: evil@example.com"}, "line break"},
		"header crlf":   {mailer.Message{To: []string{"a@example.com"}, Headers: map[string]string{"X-A": "1\r\nBcc: x@y"}}, "X-A"},
		"reserved":      {mailer.Message{To: []string{"a@example.com"}, Headers: map[string]string{"Bcc": "x@example.com"}}, "Bcc"},
		"bad header":    {mailer.Message{To: []string{"a@example.com"}, Headers: map[string]string{"X A": "1"}}, `"X A"`},
		"bad messageid": {mailer.Message{To: []string{"a@example.com"}, MessageID: "no-at-sign"}, "no-at-sign"},
	} {
		err := m.Send(context.Background(), tc.msg)
		if !failure.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want permanent containing %q", name, err, tc.want)
		}
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("Sessions = %d: an invalid message must not connect", n)
	}
}

func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	for i := range 10 {
		msg := simple("alice@example.com")
		msg.MessageID = "<op-" + itoa(i) + "@triggerflow>"
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	srv.WaitMessages(t, 10, wait)
	if n := srv.Sessions(); n != 1 {
		t.Errorf("Sessions = %d after 10 sends, want 1", n)
	}
}

func TestConcurrentSendsShareTheConnection(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- m.Send(context.Background(), simple("alice@example.com")) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	srv.WaitMessages(t, 8, wait)
	if n := srv.Sessions(); n != 1 {
		t.Errorf("Sessions = %d, want 1", n)
	}
}

func TestRedialAfterServerDropsConnection(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	srv.DropConnections()
	if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
		t.Fatalf("Send after the server dropped the connection: %v", err)
	}
	srv.WaitMessages(t, 2, wait)
	if n := srv.Sessions(); n != 2 {
		t.Errorf("Sessions = %d, want 2", n)
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	t.Parallel()
	_, c := starttlsServer(t)
	c.Port = natstest.FreePort(t) // nothing listens there
	m := newMailer(t, c, nil)
	if err := m.Send(context.Background(), simple("alice@example.com")); err == nil || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	_, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Send(ctx, simple("alice@example.com")); !errors.Is(err, context.Canceled) || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want transient context.Canceled", err)
	}
}

func TestSendAfterClose(t *testing.T) {
	t.Parallel()
	_, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	if err := m.Send(context.Background(), simple("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.Send(context.Background(), simple("alice@example.com")); err == nil {
		t.Fatal("Send after Close succeeded")
	}
}

// TestNewResolveErrors: New fails only on what may have changed since config.Validate
// (a secret or a TLS file that no longer reads; the rules of smtp are config's, tested
// in internal/config), naming the key and never the password.
func TestNewResolveErrors(t *testing.T) {
	t.Parallel()
	valid := config.SMTP{Host: "mail", Port: 587, From: "a@b.c", Timeout: wait, Username: "u", PasswordFile: passwordFile(t, password), Auth: "plain"}
	for name, tc := range map[string]struct {
		mod  func(*config.SMTP)
		want string
	}{
		"password file": {func(c *config.SMTP) { c.PasswordFile = "/nonexistent/pw" }, "smtp.password_file: read secret file"},
		"username env": {func(c *config.SMTP) { c.Username, c.UsernameEnv = "", "TF_MAILER_TEST_UNSET_VARIABLE" },
			"smtp.username_env: environment variable TF_MAILER_TEST_UNSET_VARIABLE is not set"},
		"ca file": {func(c *config.SMTP) { c.TLSConfig.CAFile = "/nonexistent/ca.pem" }, "smtp.tls_config.ca_file"},
	} {
		c := valid
		tc.mod(&c)
		_, err := mailer.New(c, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", name, err, tc.want)
		} else if strings.Contains(err.Error(), password) {
			t.Errorf("%s: the password is in the error", name)
		}
	}
	m, err := mailer.New(valid, nil)
	if err != nil {
		t.Fatalf("valid: %v", err)
	}
	_ = m.Close()
}

func ptr[T any](v T) *T { return &v }

func itoa(i int) string { return strconv.Itoa(i) }
