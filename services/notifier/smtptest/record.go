package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recConn is an accepted connection that records the command lines the client sends,
// byte for byte, before go-smtp reads (and forgivingly parses) them.
//
// Once TLS starts (at once with implicit TLS, after the server's 220 to STARTTLS) the
// client's bytes are ciphertext, so recConn terminates the client's TLS itself, with
// the server's certificate, records the plaintext and relays it over an in-process pipe
// through a second TLS session to go-smtp, which so still sees a *tls.Conn (and offers
// AUTH only over TLS, as it would).
type recConn struct {
	net.Conn             // the client's TCP connection
	tlsConf  *tls.Config // the server's TLS config; nil without TLS

	rec recorder

	mu     sync.Mutex
	piped  net.Conn // go-smtp's end of the pipe once TLS started
	relay  net.Conn // the relay's end of it
	closed bool
}

func newRecConn(c net.Conn, s *Server, tlsConf *tls.Config, implicitTLS bool) *recConn {
	rc := &recConn{Conn: c, tlsConf: tlsConf}
	rc.rec.s, rc.rec.txStart = s, -1
	if implicitTLS {
		rc.startTLS()
	}
	return rc
}

// pipe is go-smtp's end of the relay once TLS started, nil before.
func (c *recConn) pipe() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.piped
}

func (c *recConn) Read(p []byte) (int, error) {
	if pc := c.pipe(); pc != nil {
		return pc.Read(p)
	}
	n, err := c.Conn.Read(p)
	c.rec.fromClient(p[:n])
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	if pc := c.pipe(); pc != nil {
		return pc.Write(p)
	}
	n, err := c.Conn.Write(p)
	if c.rec.fromServer(p[:n]) && err == nil && c.tlsConf != nil {
		// The 220 to STARTTLS is out: the client's next bytes are its TLS handshake.
		c.startTLS()
	}
	return n, err
}

func (c *recConn) SetDeadline(t time.Time) error {
	if pc := c.pipe(); pc != nil {
		return pc.SetDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

func (c *recConn) SetReadDeadline(t time.Time) error {
	if pc := c.pipe(); pc != nil {
		return pc.SetReadDeadline(t)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *recConn) SetWriteDeadline(t time.Time) error {
	if pc := c.pipe(); pc != nil {
		return pc.SetWriteDeadline(t)
	}
	return c.Conn.SetWriteDeadline(t)
}

// Close closes the client's connection and the relay, if any.
func (c *recConn) Close() error {
	c.mu.Lock()
	c.closed = true
	piped, relay := c.piped, c.relay
	c.mu.Unlock()
	if piped != nil {
		_ = piped.Close()
		_ = relay.Close()
	}
	return c.Conn.Close()
}

// startTLS switches to the relay: go-smtp's TLS handshake and everything after it go
// through an in-process pipe, which the relay connects to the client's TLS session.
func (c *recConn) startTLS() {
	piped, relay := net.Pipe()
	c.mu.Lock()
	closed := c.closed
	c.piped, c.relay = piped, relay
	c.mu.Unlock()
	if closed {
		_ = piped.Close()
		_ = relay.Close()
		return
	}
	go c.runRelay(relay)
}

// runRelay terminates the client's TLS with the server's certificate, opens a TLS
// session to go-smtp over the pipe and copies between the two, recording what the
// client sends.
func (c *recConn) runRelay(relay net.Conn) {
	defer func() { _ = c.Close() }()
	outer := tls.Server(c.Conn, c.tlsConf)
	if err := outer.Handshake(); err != nil {
		return // the client gave up (e.g. it does not trust the certificate)
	}
	leaf := c.tlsConf.Certificates[0].Certificate[0]
	inner := tls.Client(relay, &tls.Config{
		// The peer is go-smtp at the other end of an in-process pipe, with the
		// certificate the client just accepted: pin it instead of verifying a chain.
		InsecureSkipVerify: true, //nolint:gosec // pinned by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errors.New("smtptest: relay: unexpected certificate")
			}
			return nil
		},
		MinVersion: tls.VersionTLS12,
	})
	if err := inner.Handshake(); err != nil {
		return
	}
	done := make(chan struct{})
	go func() { // server to client
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := inner.Read(buf)
			if n > 0 {
				c.rec.fromServer(buf[:n])
				if _, werr := outer.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for { // client to server
		n, err := outer.Read(buf)
		if n > 0 {
			c.rec.fromClient(buf[:n])
			if _, werr := inner.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = inner.Close()
	<-done
}

// transaction returns the command lines of the transaction whose message Session.Data
// received: from its MAIL command to its DATA (or last BDAT).
func (c *recConn) transaction() []string {
	return c.rec.transaction()
}

// recorder splits what the client sends into command lines, leaving out the message
// content after DATA (up to the lone ".") and BDAT chunks. It pairs each line with the
// server's reply to it (replies come in order, also with PIPELINING) to know when
// message content starts and when TLS does.
type recorder struct {
	s *Server

	mu      sync.Mutex
	line    []byte // the client's current, incomplete line
	reply   []byte // the server's current, incomplete line
	lines   []string
	txStart int        // index in lines of the current transaction's MAIL; -1 when none
	txEnd   int        // index in lines after its DATA or BDAT
	done    [][]string // the lines of transactions whose content arrived, oldest first
	pending []string   // verbs of the lines awaiting a reply, oldest first
	inData  bool       // reading message content (DATA was answered 354)
	skip    int        // bytes of a BDAT chunk still to come
}

// fromClient records bytes the client sent.
func (r *recorder) fromClient(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(p) > 0 {
		if r.skip > 0 {
			n := min(r.skip, len(p))
			r.skip -= n
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.add(p)
			return
		}
		r.add(p[:i+1])
		p = p[i+1:]
		line := string(r.line)
		r.line = r.line[:0]
		if r.inData {
			if line == ".\r\n" || line == ".\n" {
				r.inData = false
				r.pending = append(r.pending, ".") // the end of data is answered too
				r.complete()
			}
			continue
		}
		r.command(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
	}
}

// add appends to the current line; in message content only as much as it takes to
// recognise the final ".".
func (r *recorder) add(p []byte) {
	if r.inData {
		p = p[:min(len(p), max(0, 3-len(r.line)))]
	}
	r.line = append(r.line, p...)
}

// command records one command line (or a line of an AUTH exchange).
func (r *recorder) command(line string) {
	r.lines = append(r.lines, line)
	r.s.mu.Lock()
	r.s.cmds = append(r.s.cmds, line)
	r.s.mu.Unlock()
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	r.pending = append(r.pending, verb)
	switch verb {
	case "MAIL":
		r.txStart = len(r.lines) - 1
	case "RSET", "EHLO", "HELO", "LHLO":
		r.txStart = -1
	case "DATA":
		r.txEnd = len(r.lines)
	case "BDAT":
		r.txEnd = len(r.lines)
		f := strings.Fields(arg)
		if len(f) > 0 {
			if n, err := strconv.ParseUint(f[0], 10, 31); err == nil {
				r.skip = int(n)
			}
		}
		if len(f) > 1 && strings.EqualFold(f[1], "LAST") {
			r.complete()
		}
	}
}

// complete notes that the current transaction's content arrived: its lines are what
// Session.Data will ask for (go-smtp may have read further commands by then).
func (r *recorder) complete() {
	if r.txStart >= 0 && r.txStart < r.txEnd {
		r.done = append(r.done, slices.Clone(r.lines[r.txStart:r.txEnd]))
	}
}

// fromServer follows the server's replies: a 354 to DATA starts message content. It
// reports whether p holds the 220 to STARTTLS.
func (r *recorder) fromServer(p []byte) (startTLS bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.reply = append(r.reply, p...)
			return startTLS
		}
		line := append(append([]byte(nil), r.reply...), p[:i]...)
		r.reply = r.reply[:0]
		p = p[i+1:]
		if len(line) < 4 || line[3] != ' ' || len(r.pending) == 0 {
			continue // a continuation line, the greeting, or nothing asked
		}
		verb := r.pending[0]
		r.pending = r.pending[1:]
		switch code := string(line[:3]); {
		case verb == "DATA" && code == "354":
			r.inData = true
		case verb == "STARTTLS" && code == "220":
			startTLS = true
		}
	}
	return startTLS
}

// transaction returns the lines of the oldest transaction whose content arrived and
// that was not asked for yet.
func (r *recorder) transaction() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.done) == 0 {
		return nil
	}
	tx := r.done[0]
	r.done = r.done[1:]
	return tx
}

// recConnOf finds the recConn under c (go-smtp's connection, a *tls.Conn after TLS).
func recConnOf(c net.Conn) *recConn {
	for c != nil {
		if rc, ok := c.(*recConn); ok {
			return rc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}
