// Package mailpittest runs Mailpit (github.com/axllent/mailpit), a maintained SMTP
// server and mail catcher, as a real process for tests: clients are checked against
// a strict, independent SMTP implementation (it refuses "MAIL FROM:a@b" without the
// angle brackets RFC 5321 requires, which the in-process smtptest server accepts),
// and what it stored is read back through its REST API.
//
// Mailpit is built from source through the Go module proxy and the build cache, once
// per test process, at the version pinned by the tool module in ./tool (not part of the
// go.work workspace, so its dependencies never change what the services build with).
// No Docker and no downloaded binaries. A cold build takes about 45 s on two cores; a
// warm one (build cache filled) well under a second.
//
// Each server gets free ports on 127.0.0.1 for SMTP and for its HTTP API, its own data
// directory (database, log, certificate files) and is stopped when the test ends. It
// can be stopped and started again on the same ports with the same database, to test
// clients against an SMTP server that is down for a while.
package mailpittest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// startTimeout bounds how long a start may take until Mailpit accepts SMTP and HTTP.
const startTimeout = 60 * time.Second

// Mailpit is a running (or stopped) Mailpit process.
type Mailpit struct {
	SMTPHost string // 127.0.0.1
	SMTPPort int
	Addr     string // SMTP host:port
	APIURL   string // base URL of the REST API (and web UI), "http://127.0.0.1:port"
	Dir      string // its data directory: mailpit.db, mailpit.log, certificate files

	t      testing.TB
	bin    string
	args   []string
	client *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
}

// Option configures Start.
type Option func(*options)

type options struct {
	startTLS   *tls.Certificate
	user, pass string
	acceptAny  bool
	extra      []string
}

// WithSTARTTLS offers STARTTLS with cert (e.g. natstest.SelfSignedCert(t).TLS) and requires
// it before MAIL (--smtp-require-starttls).
func WithSTARTTLS(cert tls.Certificate) Option {
	return func(o *options) { o.startTLS = &cert }
}

// WithAuth requires SMTP AUTH (PLAIN or LOGIN) as user and pass (--smtp-auth-file).
// Without WithSTARTTLS it allows them over plain text (--smtp-auth-allow-insecure).
// Neither may contain white space; user no ":".
func WithAuth(user, pass string) Option {
	return func(o *options) { o.user, o.pass = user, pass }
}

// WithAuthAcceptAny offers AUTH and accepts any credentials, or none
// (--smtp-auth-accept-any).
func WithAuthAcceptAny() Option {
	return func(o *options) { o.acceptAny = true }
}

// WithArgs adds Mailpit command-line flags, e.g. "--smtp-max-recipients", "2".
func WithArgs(args ...string) Option {
	return func(o *options) { o.extra = append(o.extra, args...) }
}

// Start builds Mailpit (once per test process), starts it and waits until it accepts
// SMTP and serves its API. It is stopped when t ends; when t failed, its log is
// logged.
func Start(t testing.TB, opts ...Option) *Mailpit {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	m := &Mailpit{
		t:        t,
		bin:      Binary(t),
		SMTPHost: "127.0.0.1",
		Dir:      t.TempDir(),
		client:   &http.Client{Timeout: 10 * time.Second},
	}
	args := []string{
		"--database", filepath.Join(m.Dir, "mailpit.db"),
		"--log-file", filepath.Join(m.Dir, "mailpit.log"),
		"--verbose", // logs every SMTP line it reads: Commands
		"--disable-version-check",
		"--smtp-disable-rdns",
	}
	if o.startTLS != nil {
		certFile, keyFile := writeKeyPair(t, m.Dir, *o.startTLS)
		args = append(args, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls")
	}
	switch {
	case o.user != "" && o.acceptAny:
		t.Fatal("mailpittest: WithAuth and WithAuthAcceptAny exclude each other")
	case o.user != "":
		if strings.ContainsAny(o.user, ": \t\r\n") || o.pass == "" || strings.ContainsAny(o.pass, " \t\r\n") {
			t.Fatal("mailpittest: WithAuth: user must not contain white space or ':', pass must be set and not contain white space")
		}
		authFile := filepath.Join(m.Dir, "smtp-auth")
		if err := os.WriteFile(authFile, []byte(o.user+":"+o.pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--smtp-auth-file", authFile)
	case o.acceptAny:
		args = append(args, "--smtp-auth-accept-any")
	}
	if (o.user != "" || o.acceptAny) && o.startTLS == nil {
		args = append(args, "--smtp-auth-allow-insecure")
	}
	args = append(args, o.extra...)

	// The ports are free a moment before Mailpit binds them; should another process
	// take one in between, Mailpit exits and the start is tried again on new ones.
	for attempt := 1; ; attempt++ {
		ports := freePorts(t, 2)
		smtpAddr, httpAddr := ports[0], ports[1]
		m.SMTPPort, m.Addr = smtpAddr.Port, smtpAddr.String()
		m.APIURL = "http://" + httpAddr.String()
		m.args = append([]string{"--smtp", m.Addr, "--listen", httpAddr.String()}, args...)
		err := m.start()
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, errExited) {
			t.Fatalf("mailpittest: %v\n%s", err, m.Log())
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mailpittest: Mailpit's log (%s):\n%s", m.Dir, m.Log())
		}
		m.Stop()
	})
	return m
}

// Start starts the stopped server again, on the same ports and with the same
// database, and waits until it accepts SMTP and serves its API. It fails the test
// when that takes more than a minute.
func (m *Mailpit) Start() {
	m.t.Helper()
	if err := m.start(); err != nil {
		m.t.Fatalf("mailpittest: %v\n%s", err, m.Log())
	}
}

var errExited = errors.New("mailpit exited")

func (m *Mailpit) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return errors.New("mailpit is already running")
	}
	out, err := os.OpenFile(filepath.Join(m.Dir, "mailpit.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Env = environ()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return fmt.Errorf("start mailpit: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = out.Close()
		close(done)
	}()
	m.cmd, m.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for {
		err := m.ready()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			m.cmd = nil
			return fmt.Errorf("%w at start (%s): %v", errExited, cmd.ProcessState, err)
		default:
		}
		if time.Now().After(deadline) {
			m.kill()
			return fmt.Errorf("mailpit not ready after %v: %v", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ready reports whether the server accepts SMTP (it answers 220) and serves its API
// (/readyz answers 200), as a nil error.
func (m *Mailpit) Ready() error {
	return m.ready()
}

func (m *Mailpit) ready() error {
	resp, err := m.client.Get(m.APIURL + "/readyz")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /readyz: %s", resp.Status)
	}
	c, err := net.DialTimeout("tcp", m.Addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	greeting, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	if !strings.HasPrefix(greeting, "220 ") {
		return fmt.Errorf("smtp greeting: %q", greeting)
	}
	return nil // closing without a command, so that probes do not show in Commands
}

// WaitReady polls Ready until it succeeds; it fails the test after timeout.
func (m *Mailpit) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	natstest.CheckFor(t, timeout, 20*time.Millisecond, m.Ready)
}

// Stop stops the server (SIGTERM, SIGKILL after 10 s) and waits until it exited: its
// ports refuse connections then, and open connections are gone. Stopping a stopped
// server does nothing.
func (m *Mailpit) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// Kill stops the server with SIGKILL, as a crash would.
func (m *Mailpit) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kill()
}

func (m *Mailpit) kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

// Log returns Mailpit's log (with --verbose: every SMTP line it read and wrote) and
// whatever it printed.
func (m *Mailpit) Log() string {
	var b strings.Builder
	for _, name := range []string{"mailpit.log", "mailpit.out"} {
		if data, err := os.ReadFile(filepath.Join(m.Dir, name)); err == nil && len(data) > 0 {
			fmt.Fprintf(&b, "--- %s\n%s", name, data)
		}
	}
	return b.String()
}

// Commands returns the SMTP lines Mailpit read from clients so far (commands, and the
// lines of AUTH exchanges), in order, as its verbose log records them: as sent, less
// surrounding white space. They show the wire format as a strict server saw it, e.g.
// "MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8".
func (m *Mailpit) Commands(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(m.Dir, "mailpit.log"))
	if err != nil {
		t.Fatalf("mailpittest: %v", err)
	}
	var cmds []string
	for line := range strings.SplitSeq(string(data), "\n") {
		// time="…" level=debug msg="[smtpd] received (127.0.0.1) MAIL FROM:<a@b>"
		_, quoted, ok := strings.Cut(line, " msg=")
		if !ok {
			continue
		}
		if i := strings.LastIndex(quoted, `"`); i > 0 {
			quoted = quoted[:i+1] // drop fields after msg, if any
		}
		msg, err := strconv.Unquote(quoted)
		if err != nil {
			continue
		}
		rest, ok := strings.CutPrefix(msg, "[smtpd] received (")
		if !ok {
			continue
		}
		if _, cmd, ok := strings.Cut(rest, ") "); ok {
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// Binary builds Mailpit at the version tool/go.mod requires, once per test process
// (natstest.BuildOnce), through the Go module proxy and the build cache (`go tool -n
// mailpit` builds it into the build cache and prints its path), and returns the
// executable's path.
func Binary(t testing.TB) string {
	t.Helper()
	return natstest.BuildOnce(t, "Mailpit", func() (string, error) {
		_, file, _, _ := runtime.Caller(0)
		dir := filepath.Join(filepath.Dir(file), "tool")
		start := time.Now()
		unlock, err := lockBuild()
		if err != nil {
			return "", fmt.Errorf("lock: %w", err)
		}
		defer unlock()
		cmd := exec.Command("go", "tool", "-n", "github.com/axllent/mailpit")
		cmd.Dir = dir
		// GOWORK=off: the tool module is not in the workspace. -mod=readonly: build
		// exactly what its go.mod and go.sum pin.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("in %s: go tool -n github.com/axllent/mailpit: %v\n%s", dir, err, stderr.Bytes())
		}
		path := strings.TrimSpace(string(out))
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("go tool -n printed %q: %v", path, err)
		}
		t.Logf("mailpittest: Mailpit %s built in %v: %s", toolVersion(dir), time.Since(start).Round(10*time.Millisecond), path)
		return path, nil
	})
}

// toolVersion is the Mailpit version that dir/go.mod requires.
func toolVersion(dir string) string {
	data, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/axllent/mailpit" {
			return f[1]
		}
	}
	return "(unknown version)"
}

// environ is the environment for Mailpit: the test's, less Mailpit's own MP_*
// settings, which would override the flags.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePorts returns n distinct addresses on 127.0.0.1 whose ports were free a moment
// ago (natstest.FreePort: outside the kernel's ephemeral range).
func freePorts(t testing.TB, n int) []*net.TCPAddr {
	t.Helper()
	var addrs []*net.TCPAddr
	seen := map[int]bool{}
	for len(addrs) < n {
		p := natstest.FreePort(t)
		if !seen[p] {
			seen[p] = true
			addrs = append(addrs, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		}
	}
	return addrs
}

// writeKeyPair writes cert's chain and key as PEM files into dir.
func writeKeyPair(t testing.TB, dir string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatalf("mailpittest: certificate key: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, "smtp.crt"), filepath.Join(dir, "smtp.key")
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
