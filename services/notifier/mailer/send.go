package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
)

// Send delivers msg to its To and Cc recipients over the reused connection, dialling
// (or redialling, when the server dropped it) as needed. Errors are classified: see the
// package documentation. ctx ending aborts the exchange (a transient error).
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	g, rcpts, err := m.build(msg)
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("send mail via %s: %w", m.server, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("send mail via %s: mailer is closed", m.server)
	}
	if m.conn != nil {
		// Nothing was sent yet on this connection, so a dead one is replaced at once.
		err := m.conn.UpdateDeadline(m.timeout)
		if err == nil {
			err = m.conn.Noop()
		}
		if err != nil {
			m.log.Debug("smtp connection lost, redialling", "server", m.server, "error", m.redact(err).Error())
			m.drop()
		}
	}
	if m.conn == nil {
		if err := m.connect(ctx); err != nil {
			return err
		}
	}
	if err := m.conn.UpdateDeadline(m.timeout); err != nil {
		m.drop()
		return fmt.Errorf("send mail via %s: %w", m.server, err)
	}
	raw := m.raw
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	err = m.transact(g, rcpts)
	if !stop() {
		// ctx ended during the exchange: the connection's state is unknown.
		m.drop()
		if err != nil {
			return fmt.Errorf("send mail via %s: %w (%v)", m.server, context.Cause(ctx), err)
		}
	}
	return err
}

// connect dials, says EHLO, upgrades with STARTTLS and authenticates.
func (m *Mailer) connect(ctx context.Context) error {
	c, err := m.client.DialToSMTPClientWithContext(ctx)
	raw := m.dialed
	m.dialed = nil
	if err != nil {
		if raw != nil {
			_ = raw.Close() // go-mail leaves it open when EHLO, STARTTLS or AUTH fail
		}
		return m.dialError(err)
	}
	m.conn, m.raw = c, raw
	return nil
}

// drop closes the connection without QUIT; the next Send dials anew.
func (m *Mailer) drop() {
	if m.raw != nil {
		_ = m.raw.Close()
	}
	m.conn, m.raw = nil, nil
}

// rejection is a recipient the server refused.
type rejection struct {
	rcpt string
	err  error
}

// transact runs MAIL, RCPT and DATA on m.conn.
//
// go-mail's smtp.Client writes the argument of Mail and Rcpt as it is given
// ("MAIL FROM:%s"), so the addresses are passed as RFC 5321 paths, "<local@domain>"
// (envelopePath). Mail appends BODY=8BITMIME when the server offers it (harmless: it
// only permits 8-bit content; the parts are quoted-printable and the headers RFC
// 2047-encoded) and SMTPUTF8 when the server offers it and the client does not skip it:
// it is asked for only when an envelope address is not ASCII (RFC 6531), since a
// message flagged SMTPUTF8 bounces at any later hop that lacks the extension.
func (m *Mailer) transact(g *gomail.Msg, rcpts []string) error {
	needUTF8 := !isASCII(m.from.Address)
	for _, r := range rcpts {
		needUTF8 = needUTF8 || !isASCII(r)
	}
	if ok, _ := m.conn.Extension("SMTPUTF8"); needUTF8 && !ok {
		return failure.Permanent(fmt.Errorf("send mail via %s: an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)", m.server))
	}
	m.conn.SkipSMTPUTF8(!needUTF8)
	if err := m.conn.Mail(envelopePath(m.from.Address)); err != nil {
		return m.fail("MAIL FROM", err)
	}
	var accepted []string
	var rejected []rejection
	warn := func() {}
	for _, r := range rcpts {
		err := m.conn.Rcpt(envelopePath(r))
		if err == nil {
			accepted = append(accepted, r)
			continue
		}
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code == 421 {
			return m.fail(fmt.Sprintf("RCPT TO:<%s>", r), err)
		}
		rejected = append(rejected, rejection{r, err})
	}
	if len(rejected) > 0 {
		temp := false
		list := make([]string, len(rejected))
		for i, r := range rejected {
			list[i] = fmt.Sprintf("<%s>: %v", r.rcpt, m.redact(r.err))
			temp = temp || isTemp(r.err)
		}
		switch {
		case temp:
			// Sending to the others now and retrying later would duplicate the message
			// for them: retry the whole message instead.
			m.reset()
			return fmt.Errorf("send mail via %s: recipient temporarily refused: %s", m.server, strings.Join(list, "; "))
		case len(accepted) == 0:
			m.reset()
			return failure.Permanent(fmt.Errorf("send mail via %s: every recipient was rejected: %s", m.server, strings.Join(list, "; ")))
		}
		warn = func() {
			m.log.Warn("email sent, but the server rejected some recipients",
				"server", m.server, "message_id", firstHeader(g, gomail.HeaderMessageID),
				"rejected", strings.Join(list, "; "), "accepted", len(accepted))
		}
	}
	w, err := m.conn.Data()
	if err != nil {
		return m.fail("DATA", err)
	}
	if _, err := g.WriteTo(w); err != nil {
		m.drop() // the server is somewhere inside the message: never reuse this connection
		return fmt.Errorf("send mail via %s: write message: %w", m.server, m.redact(err))
	}
	if err := w.Close(); err != nil {
		return m.fail("end of DATA", err)
	}
	warn()
	return nil
}

// fail classifies err, which happened at stage of a transaction, and resets or drops
// the connection.
func (m *Mailer) fail(stage string, err error) error {
	err = fmt.Errorf("send mail via %s: %s: %w", m.server, stage, m.redact(err))
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code == 421 {
		m.drop() // network error, timeout, or the server closing the channel
		return err
	}
	m.reset()
	if te.Code/100 == 5 {
		return failure.Permanent(err)
	}
	return err
}

// reset aborts the transaction with RSET so the connection can be reused; a connection
// that cannot is dropped.
func (m *Mailer) reset() {
	if err := m.conn.Reset(); err != nil {
		m.drop()
	}
}

// dialError classifies an error of dialling, EHLO, STARTTLS or AUTH, naming the config
// key that can fix it.
func (m *Mailer) dialError(err error) error {
	err = m.redact(err)
	var te *textproto.Error
	switch {
	case egress.IsCertError(err):
		return failure.Permanent(fmt.Errorf("connect to %s: the server's certificate does not verify (trust its CA with smtp.tls_config.ca_file): %w", m.server, err))
	case errors.As(err, &te) && (te.Code == 530 || te.Code == 534 || te.Code == 535 || te.Code == 538):
		return failure.Permanent(fmt.Errorf("connect to %s: authentication failed (check smtp.username, smtp.password_env/password_file and smtp.auth): %w", m.server, err))
	case errors.As(err, &te) && te.Code/100 == 5:
		return failure.Permanent(fmt.Errorf("connect to %s: %w", m.server, err))
	case errors.Is(err, gomail.ErrPlainAuthNotSupported), errors.Is(err, gomail.ErrLoginAuthNotSupported),
		errors.Is(err, gomail.ErrCramMD5AuthNotSupported), errors.Is(err, smtp.ErrUnencrypted),
		strings.Contains(err.Error(), "does not support SMTP AUTH"):
		return failure.Permanent(fmt.Errorf("connect to %s: smtp.auth: %w", m.server, err))
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		// go-mail has no sentinel for this one.
		return failure.Permanent(fmt.Errorf("connect to %s: smtp.starttls is on, but the server does not offer STARTTLS: %w", m.server, err))
	}
	return fmt.Errorf("connect to %s: %w", m.server, err)
}

// envelopePath is addr (a bare addr-spec, as net/mail parsed it) as an RFC 5321 path
// for MAIL FROM and RCPT TO: in angle brackets, the local part quoted when it must be.
func envelopePath(addr string) string {
	return (&mail.Address{Address: addr}).String()
}

// isASCII reports whether s has only ASCII characters.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isTemp reports whether err is a 4xx reply.
func isTemp(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code/100 == 4
}

func firstHeader(g *gomail.Msg, h gomail.Header) string {
	if v := g.GetGenHeader(h); len(v) > 0 {
		return v[0]
	}
	return ""
}

// redactedError is err with the password cut out of its text; errors.As/Is still see err.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact makes sure err's text does not contain the password (belt and braces: no known
// path puts it there).
func (m *Mailer) redact(err error) error {
	if err == nil || m.password == "" || !strings.Contains(err.Error(), m.password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), m.password, "[REDACTED]"), err: err}
}
