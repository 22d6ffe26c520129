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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
)

// defaultTimeout applies when smtp.timeout is zero (config defaults set 30s too).
const defaultTimeout = 30 * time.Second

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

// New checks c, resolves its secrets once and prepares the client. It does not connect:
// the first Send does. Errors name the config key.
func New(c config.SMTP, log *slog.Logger) (*Mailer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Host == "" {
		bad("smtp.host: empty")
	}
	port := c.Port
	if port == 0 {
		port = 587
		if c.TLS {
			port = 465
		}
	}
	if port < 1 || port > 65535 {
		bad("smtp.port: %d is not a TCP port", c.Port)
	}
	if c.TLS && c.StartTLS != nil && *c.StartTLS {
		bad("smtp.starttls and smtp.tls: choose one (tls is implicit TLS from the first byte)")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	if timeout < 0 {
		bad("smtp.timeout: %v is negative", c.Timeout)
	}
	var from *mail.Address
	if c.From == "" {
		bad("smtp.from: empty")
	} else if a, err := mail.ParseAddress(c.From); err != nil {
		bad("smtp.from: %q is not an address: %w", c.From, err)
	} else {
		from = a
	}
	if c.Password != "" {
		bad("smtp.password: secrets are never inline; use smtp.password_env or smtp.password_file")
	}

	encrypted := c.TLS || c.StartTLSOn()
	var tlsConf *tls.Config
	if encrypted {
		tc, err := egress.TLSConfig("smtp.tls_config", c.TLSConfig, log, tlsRisk)
		if err != nil {
			errs = append(errs, err)
		} else {
			tc.ServerName = c.Host
			tlsConf = tc
		}
	} else if c.TLSConfig.Enabled() {
		bad("smtp.tls_config: set, but neither smtp.starttls nor smtp.tls is on")
	}

	user := c.Username
	if c.UsernameEnv != "" {
		if user != "" {
			bad("smtp.username and smtp.username_env: set one, not both")
		} else if v, ok := os.LookupEnv(c.UsernameEnv); !ok || v == "" {
			bad("smtp.username_env: environment variable %s is not set or empty", c.UsernameEnv)
		} else {
			user = v
		}
	}
	var authType gomail.SMTPAuthType
	switch c.Auth {
	case "":
		if user != "" || c.PasswordRef().IsSet() {
			authType = gomail.SMTPAuthPlain
		}
	case "plain":
		authType = gomail.SMTPAuthPlain
	case "login":
		authType = gomail.SMTPAuthLogin
	case "cram-md5":
		authType = gomail.SMTPAuthCramMD5
	default:
		bad("smtp.auth: %q is not one of plain, login, cram-md5", c.Auth)
	}
	var password config.Secret
	if c.Auth != "" || user != "" || c.UsernameEnv != "" || c.PasswordRef().IsSet() {
		if user == "" && c.UsernameEnv == "" {
			bad("smtp.username: required with smtp.auth")
		}
		p, err := c.PasswordRef().Resolve()
		if err != nil {
			bad("smtp.password_env/password_file: %w", err)
		}
		password = p
		if authType != "" && !encrypted && authType != gomail.SMTPAuthCramMD5 {
			bad("smtp.auth: %s would send the password in clear text; turn on smtp.starttls or smtp.tls", authType)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	m := &Mailer{
		log:      log,
		server:   net.JoinHostPort(c.Host, strconv.Itoa(port)),
		from:     from,
		timeout:  timeout,
		password: password.Reveal(),
	}
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(timeout),
		gomail.WithDialContextFunc(m.dial(c.TLS, tlsConf)),
		gomail.WithTLSPolicy(gomail.NoTLS),
	}
	if c.StartTLSOn() {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsConf))
	}
	if c.HELO != "" {
		opts = append(opts, gomail.WithHELO(c.HELO))
	}
	if authType != "" {
		opts = append(opts, gomail.WithSMTPAuth(authType), gomail.WithUsername(user), gomail.WithPassword(password.Reveal()))
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
