// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) in-process for
// tests: it keeps every message it accepts, can require STARTTLS, implicit TLS and AUTH
// (PLAIN, LOGIN, CRAM-MD5), and can be told to fail the next transactions or reject a
// recipient, so clients are tested against real SMTP replies instead of mocks.
//
// go-smtp parses commands forgivingly (it takes "MAIL FROM:a@b" as well as the RFC 5321
// "MAIL FROM:<a@b>"), so the server also records the raw command lines exactly as the
// client sent them, also inside TLS (Server.Commands, Message.Commands): assert the
// wire format on those, not on the parsed envelope.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// Message is one message the server accepted.
type Message struct {
	From string   // envelope sender (MAIL FROM), as go-smtp parsed it
	Auth string   // the SASL mechanism the client authenticated with ("" without AUTH)
	To   []string // envelope recipients (RCPT TO), in the order accepted
	// Commands are the raw command lines of this message's transaction as the client
	// sent them, without CRLF: "MAIL FROM:<a@example.com> BODY=8BITMIME", each
	// "RCPT TO:<…>" (refused ones too), "DATA".
	Commands []string
	Data     []byte // the raw RFC 5322 message as received
	Parsed   *mail.Message
	// ParseErr is why Data did not parse (Parsed is nil then).
	ParseErr error
}

// Server is a running SMTP server listening on 127.0.0.1.
type Server struct {
	Addr string // host:port
	Host string // 127.0.0.1
	Port int

	srv *smtp.Server

	user, pass  string // AUTH required when user != ""
	startTLS    *tls.Certificate
	implicitTLS *tls.Certificate
	smtputf8    bool

	mu       sync.Mutex
	msgs     []Message
	cmds     []string
	conns    []net.Conn
	accepted int
	failN    int
	failErr  *smtp.SMTPError
	reject   map[string]int
}

// Option configures New.
type Option func(*Server)

// WithAuth requires AUTH (PLAIN, LOGIN or CRAM-MD5) as user/pass before MAIL FROM.
// Without STARTTLS or implicit TLS the server allows AUTH in plain text.
func WithAuth(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// WithSTARTTLS offers STARTTLS with cert. AUTH is offered only after STARTTLS.
func WithSTARTTLS(cert tls.Certificate) Option {
	return func(s *Server) { s.startTLS = &cert }
}

// WithImplicitTLS speaks TLS from the first byte (SMTPS) with cert.
func WithImplicitTLS(cert tls.Certificate) Option {
	return func(s *Server) { s.implicitTLS = &cert }
}

// WithSMTPUTF8 offers the SMTPUTF8 extension (RFC 6531).
func WithSMTPUTF8() Option {
	return func(s *Server) { s.smtputf8 = true }
}

// New starts a server on 127.0.0.1:0; it is closed when t ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{Host: "127.0.0.1", reject: map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	if s.startTLS != nil && s.implicitTLS != nil {
		t.Fatal("smtptest: WithSTARTTLS and WithImplicitTLS exclude each other")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	cl := &countingListener{Listener: ln, s: s}
	var l net.Listener = cl
	s.srv = smtp.NewServer(backend{s})
	s.srv.EnableSMTPUTF8 = s.smtputf8
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.MaxRecipients = 100
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	switch {
	case s.startTLS != nil:
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*s.startTLS}, MinVersion: tls.VersionTLS12}
		cl.tlsConf = s.srv.TLSConfig
	case s.implicitTLS != nil:
		cl.tlsConf = &tls.Config{Certificates: []tls.Certificate{*s.implicitTLS}, MinVersion: tls.VersionTLS12}
		cl.implicitTLS = true
		l = tls.NewListener(l, cl.tlsConf)
	default:
		s.srv.AllowInsecureAuth = true
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		_ = l.Close() // Serve may not have registered l with the server yet
		<-done
	})
	return s
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Commands returns the raw command lines clients sent so far, without their CRLF, in
// the order the server read them (connections interleave): "EHLO …", "STARTTLS",
// "AUTH PLAIN …" and the lines of the AUTH exchange, "MAIL FROM:<…> …", "RCPT TO:<…>",
// "DATA", "RSET", "NOOP", "QUIT"… Lines sent inside TLS are recorded as the client
// wrote them before encryption; the message content after DATA is not a command and
// is left out.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// WaitMessages polls until at least n messages arrived and returns them all; it fails t
// when timeout passes first.
func (s *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	var m []Message
	natstest.CheckFor(t, timeout, 10*time.Millisecond, func() error {
		if m = s.Messages(); len(m) < n {
			return fmt.Errorf("smtptest: %d messages, want %d", len(m), n)
		}
		return nil
	})
	return m
}

// FailNext makes the next n transactions fail at MAIL FROM with code and msg (e.g. 421,
// 451, 550). The server keeps the connection open, even for 421.
func (s *Server) FailNext(n, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN = n
	s.failErr = &smtp.SMTPError{Code: code, EnhancedCode: enhanced(code, 0, 0), Message: msg}
}

// RejectRecipient makes RCPT TO:<addr> (case-insensitive) answer code (e.g. 550 → 5.1.1).
func (s *Server) RejectRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject[strings.ToLower(addr)] = code
}

// Sessions is how many connections were accepted so far (a TLS handshake that failed
// counts too).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// DropConnections closes every open connection without a reply, as a server restart
// or an idle timeout on the server side would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func enhanced(code, subject, detail int) smtp.EnhancedCode {
	class := code / 100
	if class != 4 && class != 5 {
		return smtp.EnhancedCodeNotSet
	}
	return smtp.EnhancedCode{class, subject, detail}
}

// countingListener counts the accepted connections and wraps each in a recConn, which
// records the client's command lines.
type countingListener struct {
	net.Listener
	s           *Server
	tlsConf     *tls.Config // for STARTTLS or implicit TLS
	implicitTLS bool
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := newRecConn(c, l.s, l.tlsConf, l.implicitTLS)
	l.s.mu.Lock()
	l.s.accepted++
	l.s.conns = append(l.s.conns, rc)
	l.s.mu.Unlock()
	return rc, nil
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, rec: recConnOf(c.Conn())}, nil
}

// session is one go-smtp session; go-smtp starts a new one after STARTTLS.
type session struct {
	s      *Server
	rec    *recConn // its connection
	authed bool
	mech   string
	from   string
	to     []string
}

var errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

func (se *session) AuthMechanisms() []string {
	if se.s.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login, "CRAM-MD5"}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != se.s.user || pass != se.s.pass {
			return errAuthFailed
		}
		se.authed = true
		return nil
	}
	se.mech = mech
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramMD5Server{user: se.s.user, pass: se.s.pass, ok: func() { se.authed = true }}, nil
	}
	return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Unrecognized authentication type"}
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if !se.authed {
		se.mech = ""
	}
	if se.s.user != "" && !se.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	if se.s.failN > 0 {
		se.s.failN--
		return se.s.failErr
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.s.mu.Lock()
	code, ok := se.s.reject[strings.ToLower(to)]
	se.s.mu.Unlock()
	if ok {
		return &smtp.SMTPError{Code: code, EnhancedCode: enhanced(code, 1, 1), Message: "mailbox unavailable: " + to}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: se.from, Auth: se.mech, To: append([]string(nil), se.to...), Data: data}
	if se.rec != nil {
		m.Commands = se.rec.transaction()
	}
	m.Parsed, m.ParseErr = mail.ReadMessage(bytes.NewReader(data))
	se.s.mu.Lock()
	se.s.msgs = append(se.s.msgs, m)
	se.s.mu.Unlock()
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login), which
// go-sasl implements only for clients.
type loginServer struct {
	check    func(user, pass string) error
	user     string
	haveUser bool
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case !l.haveUser && resp == nil:
		return []byte("Username:"), false, nil
	case !l.haveUser:
		l.user, l.haveUser = string(resp), true
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// cramMD5Server is the server side of AUTH CRAM-MD5 (RFC 2195).
type cramMD5Server struct {
	user, pass string
	ok         func()
	challenge  string
}

func (c *cramMD5Server) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		if len(resp) > 0 {
			return nil, true, errors.New("CRAM-MD5 takes no initial response")
		}
		c.challenge = fmt.Sprintf("<%s.%d@localhost>", strconv.FormatInt(time.Now().UnixNano(), 36), nonce())
		return []byte(c.challenge), false, nil
	}
	user, digest, found := strings.Cut(string(resp), " ")
	if !found || user != c.user || !validCRAMMD5(c.pass, c.challenge, digest) {
		return nil, true, errAuthFailed
	}
	c.ok()
	return nil, true, nil
}
