package smtptest_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/smtp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

const wait = 30 * time.Second

// conn is a raw SMTP client connection.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(wait))
	cn := &conn{t: t, c: c, r: bufio.NewReader(c)}
	cn.expect("220")
	return cn
}

func (c *conn) send(raw string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(raw)); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads one reply and checks its code.
func (c *conn) expect(code string) {
	c.t.Helper()
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v", err)
		}
		if !strings.HasPrefix(l, code) {
			c.t.Fatalf("reply %q, want %s", l, code)
		}
		if len(l) < 4 || l[3] != '-' {
			return
		}
	}
}

// TestCommandsAreRaw shows what the recorder is for: go-smtp accepts a path without
// angle brackets, and Commands shows the line exactly as sent. Message content (even a
// line that looks like a command) is not a command.
func TestCommandsAreRaw(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t)
	c := dial(t, srv.Addr)
	c.send("EHLO client.example\r\n")
	c.expect("250")
	c.send("MAIL FROM:a@example.com  \r\n")
	c.expect("250")
	c.send("rcpt to:<b@example.com>\r\n")
	c.expect("250")
	c.send("DATA\r\n")
	c.expect("354")
	c.send("Subject: x\r\n\r\nMAIL FROM:<not-a-command@example.com>\r\n..\r\n.x\r\n")
	c.send(".\r\n")
	c.expect("250")
	c.send("QUIT\r\n")
	c.expect("221")

	want := []string{"EHLO client.example", "MAIL FROM:a@example.com  ", "rcpt to:<b@example.com>", "DATA", "QUIT"}
	if got := srv.Commands(); !slices.Equal(got, want) {
		t.Errorf("Commands() = %q\n         want %q", got, want)
	}
	msg := srv.WaitMessages(t, 1, wait)[0]
	if want := want[1:4]; !slices.Equal(msg.Commands, want) {
		t.Errorf("Message.Commands = %q, want %q", msg.Commands, want)
	}
	if msg.From != "a@example.com" {
		t.Errorf("From = %q (go-smtp's parse)", msg.From)
	}
}

// TestCommandsPipelined sends MAIL, RCPT and DATA in one write (PIPELINING, which go-smtp
// offers): the recorder still tells commands from content. A refused RCPT is recorded,
// and an RSET ends the transaction.
func TestCommandsPipelined(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t)
	srv.RejectRecipient("gone@example.com", 550)
	c := dial(t, srv.Addr)
	c.send("EHLO c\r\n")
	c.expect("250")
	c.send("MAIL FROM:<x@example.com>\r\nRSET\r\n")
	c.expect("250")
	c.expect("250")
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<gone@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
	c.expect("250")
	c.expect("550")
	c.expect("250")
	c.expect("354")
	// The end of the content and the next transaction in one write: go-smtp reads the
	// next commands before it hands the first message over.
	c.send("Subject: y\r\n\r\nRCPT TO:<body@example.com>\r\n.\r\nMAIL FROM:<c@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n")
	c.expect("250")
	c.expect("250")
	c.expect("250")
	c.expect("354")
	c.send("Subject: z\r\n\r\nz\r\n.\r\nQUIT\r\n")
	c.expect("250")
	c.expect("221")
	msgs := srv.WaitMessages(t, 2, wait)
	want := []string{"MAIL FROM:<a@example.com>", "RCPT TO:<gone@example.com>", "RCPT TO:<b@example.com>", "DATA"}
	if !slices.Equal(msgs[0].Commands, want) {
		t.Errorf("first Message.Commands = %q, want %q", msgs[0].Commands, want)
	}
	if want := []string{"MAIL FROM:<c@example.com>", "RCPT TO:<d@example.com>", "DATA"}; !slices.Equal(msgs[1].Commands, want) {
		t.Errorf("second Message.Commands = %q, want %q", msgs[1].Commands, want)
	}
	if got := srv.Commands(); len(got) != 11 || got[10] != "QUIT" || slices.Contains(got, "RCPT TO:<body@example.com>") {
		t.Errorf("Commands() = %q", got)
	}
}

// TestCommandsBDAT: a BDAT chunk is content, whatever it holds.
func TestCommandsBDAT(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t)
	c := dial(t, srv.Addr)
	c.send("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
	c.expect("250")
	c.expect("250")
	c.expect("250")
	chunk := "Subject: z\r\n\r\nNOOP\r\n"
	c.send("BDAT " + itoa(len(chunk)) + " LAST\r\n" + chunk + "NOOP\r\n")
	c.expect("250")
	c.expect("250")
	srv.WaitMessages(t, 1, wait)
	want := []string{"EHLO c", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "BDAT " + itoa(len(chunk)) + " LAST", "NOOP"}
	if got := srv.Commands(); !slices.Equal(got, want) {
		t.Errorf("Commands() = %q, want %q", got, want)
	}
}

// TestCommandsInsideTLS: after STARTTLS, and with implicit TLS, the lines are recorded
// as the client wrote them inside TLS, and AUTH works as before.
func TestCommandsInsideTLS(t *testing.T) {
	t.Parallel()
	crt := natstest.SelfSignedCert(t)
	cert, pool := crt.TLS, crt.Pool()
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	sendMail := func(t *testing.T, c *smtp.Client, startTLS bool) {
		t.Helper()
		defer c.Close()
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		if startTLS {
			if err := c.StartTLS(tc); err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
		}
		if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
			t.Fatalf("AUTH: %v", err)
		}
		if err := c.Mail("a@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("b@example.com"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("Subject: tls\r\n\r\nbody\r\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("starttls", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.WithSTARTTLS(cert), smtptest.WithAuth("u", "p"))
		c, err := smtp.Dial(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		sendMail(t, c, true)
		msg := srv.WaitMessages(t, 1, wait)[0]
		if msg.Auth != "PLAIN" || !slices.Equal(msg.Commands, []string{"MAIL FROM:<a@example.com> BODY=8BITMIME", "RCPT TO:<b@example.com>", "DATA"}) {
			t.Errorf("Auth %q, Commands %q", msg.Auth, msg.Commands)
		}
		got := srv.Commands()
		if len(got) != 8 || got[0] != "EHLO client.example" || got[1] != "STARTTLS" || got[2] != "EHLO client.example" ||
			!strings.HasPrefix(got[3], "AUTH PLAIN ") || got[7] != "QUIT" {
			t.Errorf("Commands() = %q", got)
		}
	})
	t.Run("implicit tls", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.WithImplicitTLS(cert), smtptest.WithAuth("u", "p"))
		tlsConn, err := tls.Dial("tcp", srv.Addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClient(tlsConn, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		sendMail(t, c, false)
		if got := srv.WaitMessages(t, 1, wait)[0].Commands; !slices.Equal(got, []string{"MAIL FROM:<a@example.com> BODY=8BITMIME", "RCPT TO:<b@example.com>", "DATA"}) {
			t.Errorf("Commands %q", got)
		}
		if got := srv.Commands(); len(got) != 6 || got[0] != "EHLO client.example" || !strings.HasPrefix(got[1], "AUTH PLAIN ") {
			t.Errorf("Commands() = %q", got)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.WithSTARTTLS(cert))
		c, err := smtp.Dial(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		otherPool := natstest.SelfSignedCert(t).Pool()
		if err := c.StartTLS(&tls.Config{RootCAs: otherPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}); err == nil {
			t.Fatal("STARTTLS with an untrusted certificate succeeded")
		}
	})
}

// TestSMTPUTF8 offers the extension only with WithSMTPUTF8.
func TestSMTPUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts []smtptest.Option
		want bool
	}{{nil, false}, {[]smtptest.Option{smtptest.WithSMTPUTF8()}, true}} {
		srv := smtptest.New(t, tc.opts...)
		c, err := smtp.Dial(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("c"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("SMTPUTF8"); ok != tc.want {
			t.Errorf("SMTPUTF8 offered: %v, want %v", ok, tc.want)
		}
		_ = c.Close()
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
