package ingress_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/ingress"
	"go.uber.org/fx"
)

// TestGracefulDrain: a request in flight when the ingress is told to stop still completes
// and is stored; new connections are refused meanwhile.
func TestGracefulDrain(t *testing.T) {
	g := startIngress(t, "", nil)
	addr := strings.TrimPrefix(g.URL, "http://")
	body := mediatorBody("CREATE", ticketXML("4242", "1"), "", "")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/trigger_file", nil)
	req.SetBasicAuth(testUser, testPassword)
	head := fmt.Sprintf("POST /trigger_file HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		addr, req.Header.Get("Authorization"), len(body))
	half := len(body) / 2
	if _, err := io.WriteString(conn, head+string(body[:half])); err != nil {
		t.Fatal(err)
	}

	// Stop only once the request is in flight (accepted and waiting for its body).
	natstest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, g.URL+"/metrics", nil)
		if m := string(g.do(req).Body); !strings.Contains(m, "triggerflow_ingress_requests_in_flight 1") {
			return fmt.Errorf("request not in flight yet")
		}
		return nil
	})
	stopped := make(chan struct{})
	go func() { g.Stop(); close(stopped) }()
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("still accepting new connections")
		}
		return nil
	})
	if _, err := conn.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, g.Logs.String())
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), "stored CREATE for ticket 4242") {
		t.Fatalf("in-flight request: %d %s", res.StatusCode, b)
	}
	<-stopped
	if n := g.msgs(); n != 1 {
		t.Fatalf("%d stored", n)
	}
}

// TestHTTPS: with ingress.tls set the ingress serves HTTPS only.
func TestHTTPS(t *testing.T) {
	cert := natstest.SelfSignedCert(t)
	g := startIngress(t, "", func(c *config.Config) {
		c.Ingress.TLS = config.ServerTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	})
	g.URL = strings.Replace(g.URL, "http://", "https://", 1)
	g.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool(), MinVersion: tls.VersionTLS12}}
	if r := g.postMediator("CREATE", ticketXML("1", "1"), "", ""); r.Status != 200 || !r.Reply.Stored {
		t.Fatalf("https: %s", r)
	}
	res, err := http.Post(strings.Replace(g.URL, "https://", "http://", 1)+"/trigger_file", "application/json", strings.NewReader("{}"))
	if err == nil {
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Fatalf("plain HTTP accepted on the TLS listener: %d", res.StatusCode)
		}
	}
}

// TestNoSecretsInLogs: neither passwords nor ticket bodies reach the log, even at debug
// level (where each stored trigger has its line).
func TestNoSecretsInLogs(t *testing.T) {
	g := startIngress(t, "", func(c *config.Config) { c.Log.Level = "debug" })
	g.postMediator("CREATE", ticketXML("1", "1"), "", "")
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/trigger_file", strings.NewReader("{}"))
	req.SetBasicAuth(testUser, "guessed-wrong-password")
	g.do(req)
	g.postMediator("EXPLODE", ticketXML("2", "1"), "", "")
	logs := g.Logs.String()
	for _, secret := range []string{testPassword, "guessed-wrong-password", "Allow web to db", "<ticket_info>"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`msg="trigger stored"`, `msg="trigger rejected"`, "wrong user name or password"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestNoLinePerTriggerAtInfo: at the default level a stored trigger writes no log line
// (a busy SecureChange sends thousands an hour); a rejected one does.
func TestNoLinePerTriggerAtInfo(t *testing.T) {
	g := startIngress(t, "", nil)
	g.postMediator("CREATE", ticketXML("1", "1"), "", "")
	g.postMediator("EXPLODE", ticketXML("2", "1"), "", "")
	logs := g.Logs.String()
	if strings.Contains(logs, "trigger stored") || !strings.Contains(logs, `msg="trigger rejected"`) {
		t.Fatalf("log at info:\n%s", logs)
	}
}

// TestDevModeWithoutUsers: with --dev (AllowNoAuth) and no users the ingress accepts
// triggers without credentials; without it, it refuses to be built.
func TestDevModeWithoutUsers(t *testing.T) {
	t.Parallel()
	cfg := config.Default().Ingress
	if _, err := ingress.NewHandler(ingress.HandlerParams{Config: cfg}); !errors.Is(err, ingress.ErrNoUsers) {
		t.Fatalf("no users, no --dev: %v", err)
	}
	g := startIngress(t, "", func(c *config.Config) { c.Ingress.Users = nil }, fx.Replace(ingress.Options{Dev: true}))
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/triggers/CREATE", strings.NewReader(ticketXML("3", "1")))
	req.Header.Set("X-No-Auth", "1")
	if r := g.do(req); r.Status != 200 || !r.Reply.Stored {
		t.Fatalf("dev mode: %s", r)
	}
	if !strings.Contains(g.Logs.String(), "WITHOUT authentication") {
		t.Fatal("dev mode was not logged as a warning")
	}
}

// TestSlowHeadersCutOff: a client that never finishes its headers is disconnected after
// ingress.read_header_timeout (slowloris).
func TestSlowHeadersCutOff(t *testing.T) {
	t.Parallel()
	g := startIngress(t, "", func(c *config.Config) { c.Ingress.ReadHeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /trigger_file HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second)) // generous: only a hang fails
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v (read %q)", err, b)
	}
}
