// Package mailer sends email through the configured SMTP server with
// github.com/wneessen/go-mail: STARTTLS (mandatory unless smtp.starttls is false) or
// implicit TLS with certificate verification, AUTH PLAIN, LOGIN or CRAM-MD5, and one
// connection reused across sends.
//
// Every error Send returns is classified once: failure.IsPermanent for what no retry can
// fix (5xx replies, invalid addresses or message, a certificate that does not verify,
// wrong credentials), a plain error for what a retry may fix (4xx replies, network
// errors, timeouts). No error or log line contains the SMTP password.
//
// When some recipients are rejected with a 5xx reply and others accepted, the message is
// sent to the accepted ones, the rejections are logged at WARN, and Send returns nil: a
// retry could only send duplicates to the accepted recipients.
//
// The envelope is written as RFC 5321 requires, "MAIL FROM:<addr>" and "RCPT TO:<addr>"
// (go-mail's smtp.Client writes its argument as given), asking for SMTPUTF8 only when
// an address is not ASCII. The mailer folds the Subject and the extra headers itself
// (go-mail would start a long value on a continuation line, leaving "Subject:" empty):
// the value starts on the field's own line, lines keep to 78 characters, and non-ASCII
// text is written as RFC 2047 encoded-words of at most 75 characters, 76 per line.
package mailer

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
)

// tlsRisk is what insecure_skip_verify gives away, for the start-up WARN.
const tlsRisk = "anyone on the network path can impersonate the mail server and read every email and the SMTP password"

// Mailer sends messages over one reused SMTP connection. Send calls are serialised on
// it; the zero value is not usable, call New.
type Mailer struct {
	log      *slog.Logger
	server   string // host:port, for errors and logs
	from     *mail.Address
	timeout  time.Duration
	password string // for redacting errors only; never logged
	client   *gomail.Client

	mu     sync.Mutex // guards everything below; held for the whole of a Send
	conn   *smtp.Client
	raw    net.Conn // conn's underlying connection, to interrupt it when ctx ends
	dialed net.Conn // set by dial, picked up into raw
	closed bool
}

// authTypes maps smtp.auth to go-mail's mechanisms.
var authTypes = map[string]gomail.SMTPAuthType{
	"plain":    gomail.SMTPAuthPlain,
	"login":    gomail.SMTPAuthLogin,
	"cram-md5": gomail.SMTPAuthCramMD5,
}

// New builds the mailer of c, which config.Validate has accepted (as config.Load
// leaves it: defaults set, checked). It does not check c again: it resolves the user
// name and password (the environment or a file may have changed since) and prepares the
// client; those, TLS files that no longer read, and go-mail's own errors are the only
// errors, and none contains the password. It does not connect: the first Send does.
func New(c config.SMTP, log *slog.Logger) (*Mailer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mailer{
		log:     log,
		server:  net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		from:    c.Sender(),
		timeout: c.Timeout,
	}
	var tlsConf *tls.Config
	if c.TLS || c.StartTLSOn() {
		tc, err := egress.TLSConfig("smtp.tls_config", c.TLSConfig, log, tlsRisk)
		if err != nil {
			return nil, err
		}
		tc.ServerName = c.Host
		tlsConf = tc
	}
	opts := []gomail.Option{
		gomail.WithPort(c.Port),
		gomail.WithTimeout(c.Timeout),
		gomail.WithDialContextFunc(m.dial(c.TLS, tlsConf)),
		gomail.WithTLSPolicy(gomail.NoTLS),
	}
	if c.StartTLSOn() {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsConf))
	}
	if c.HELO != "" {
		opts = append(opts, gomail.WithHELO(c.HELO))
	}
	if c.Auth != "" {
		user, err := config.ResolveUser("smtp.username", c.Username, c.UsernameEnv)
		if err != nil {
			return nil, err
		}
		password, err := c.PasswordRef().ResolveAt("smtp.password")
		if err != nil {
			return nil, err
		}
		m.password = password.Reveal()
		opts = append(opts, gomail.WithSMTPAuth(authTypes[c.Auth]), gomail.WithUsername(user), gomail.WithPassword(m.password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", m.redact(err))
	}
	m.client = client
	return m, nil
}

// dial connects, with TLS from the first byte when implicit; it records the connection
// so Send can interrupt it when its context ends. go-mail calls it with m.mu held.
func (m *Mailer) dial(implicitTLS bool, tc *tls.Config) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if implicitTLS {
			tlsConn := tls.Client(conn, tc)
			if err := tlsConn.HandshakeContext(ctx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			conn = tlsConn
		}
		m.dialed = conn
		return conn, nil
	}
}

// Close says QUIT on the open connection, if any. Send fails after Close.
func (m *Mailer) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.conn == nil {
		return nil
	}
	_ = m.conn.UpdateDeadline(5 * time.Second)
	err := m.conn.Quit()
	_ = m.conn.Close()
	m.conn, m.raw = nil, nil
	if err != nil {
		return fmt.Errorf("smtp %s: quit: %w", m.server, m.redact(err))
	}
	return nil
}
