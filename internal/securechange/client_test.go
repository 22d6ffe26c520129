package securechange

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

const (
	scTestUser = "svc-triggerflow"
	scTestPass = "Tr1gger-s3cret!pw"
	scAPIPath  = "/securechangeworkflow/api/securechange"
)

// scSim is a SecureChange simulator: GET {scAPIPath}/tickets/{id}.json with basic auth,
// answering the tickets it holds, 404 otherwise, like SecureChange.
type scSim struct {
	t       *testing.T
	srv     *httptest.Server
	tickets map[string][]byte
	// hook, when set, may answer request number n (from 1) itself by returning true.
	// It runs after the credentials were checked.
	hook     func(n int, w http.ResponseWriter, r *http.Request) bool
	requests atomic.Int32
	conns    atomic.Int32 // connections accepted (for TLS: handshakes tried)
	arrived  chan int     // request numbers, as they arrive
}

type scSimOpt func(*scSim)

// scHook sets the simulator's hook.
func scHook(h func(n int, w http.ResponseWriter, r *http.Request) bool) scSimOpt {
	return func(s *scSim) { s.hook = h }
}

// scTLSOn makes the simulator serve HTTPS with httptest's certificate.
func scTLSOn() scSimOpt { return scTLSWith(&tls.Config{}) }

// scTLSWith makes the simulator serve HTTPS with cfg, to which httptest adds its
// certificate.
func scTLSWith(cfg *tls.Config) scSimOpt { return func(s *scSim) { s.srv.TLS = cfg } }

func newSCSim(t *testing.T, opts ...scSimOpt) *scSim {
	t.Helper()
	s := &scSim{
		t:       t,
		tickets: map[string][]byte{},
		arrived: make(chan int, 64),
	}
	for _, f := range []string{"one_step_one_field.json", "many_steps_many_fields.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "securechange", f))
		if err != nil {
			t.Fatal(err)
		}
		tk, err := DecodeTicket(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.tickets[tk.ID] = b
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+scAPIPath+"/tickets/{file}", s.serveTicket)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		t.Errorf("simulator: unexpected request %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	})
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	for _, o := range opts {
		o(s)
	}
	if s.srv.TLS != nil {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scSim) serveTicket(w http.ResponseWriter, r *http.Request) {
	n := int(s.requests.Add(1))
	select {
	case s.arrived <- n:
	default:
	}
	if u, p, ok := r.BasicAuth(); !ok || u != scTestUser || p != scTestPass {
		w.Header().Set("WWW-Authenticate", `Basic realm="SecureChange"`)
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "<!doctype html><html><head><title>HTTP Status 401 – Unauthorized</title></head>"+
			"<body><h1>HTTP Status 401 – Unauthorized</h1><p>Basic authentication required</p></body></html>")
		return
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		s.t.Errorf("simulator: Accept %q, want application/json", got)
	}
	if s.hook != nil && s.hook(n, w, r) {
		return
	}
	id, _ := strings.CutSuffix(r.PathValue("file"), ".json")
	b, ok := s.tickets[id]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"result":{"code":"WEB_APPLICATION_EXCEPTION","message":"Ticket with ID %s does not exist"}}`, id)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// url is the API base the client is configured with.
func (s *scSim) url() string { return s.srv.URL + scAPIPath }

// waitArrival waits for the next request to reach the simulator.
func (s *scSim) waitArrival() {
	s.t.Helper()
	select {
	case <-s.arrived:
	case <-time.After(10 * time.Second):
		s.t.Fatal("no request reached the simulator")
	}
}

// logRecords decodes the client's JSON log lines.
func logRecords(t *testing.T, l *natstest.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// scConfig is a client configuration for base with the test credentials (password in a
// file, so tests can run in parallel), 3 retries from 10ms.
func scConfig(t *testing.T, base string) config.SecureChange {
	t.Helper()
	return config.SecureChange{
		URL:          base,
		User:         scTestUser,
		PasswordFile: scWriteFile(t, "password", scTestPass+"\n"),
		Timeout:      5 * time.Second,
		Retries:      new(3),
		RetryBackoff: 10 * time.Millisecond,
	}
}

// newSCClient builds a client of c, which passes config validation as at start-up,
// and, at cleanup, checks that nothing it logged holds the password or the
// Authorization header value.
func newSCClient(t *testing.T, c config.SecureChange) (*Client, *natstest.LogBuffer) {
	t.Helper()
	cfg := config.Default()
	cfg.SecureChange = c
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &natstest.LogBuffer{}
	l := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl, err := New(c, l)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		cl.Close()
		scCheckNoSecret(t, "log", logs.String())
	})
	return cl, logs
}

// scCheckNoSecret fails when s holds the test password or its basic-auth encoding.
func scCheckNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range []string{scTestPass, "s3cret", scBasic(scTestUser, scTestPass), "Wr0ng-passw0rd"} {
		if strings.Contains(s, sec) {
			t.Errorf("%s leaks a secret (%q): %s", what, sec, s)
		}
	}
}

func scBasic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func scWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// scStatus is a hook answering status (with an SC-style body) to requests n ≤ upTo.
func scStatus(status, upTo int, header map[string]string) scSimOpt {
	return scHook(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n > upTo {
			return false
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"result":{"code":"ERROR","message":"simulated %d"}}`, status)
		return true
	})
}

func TestTicketDecodes(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t)
	cl, _ := newSCClient(t, scConfig(t, sim.url()))
	ctx := t.Context()

	t.Run("one step one field", func(t *testing.T) {
		tk, err := cl.Ticket(ctx, "1")
		if err != nil {
			t.Fatal(err)
		}
		if tk.ID != "1" || tk.Workflow.Name != "Access Request" || tk.Requester != "a.jones" {
			t.Errorf("ticket %q workflow %q requester %q", tk.ID, tk.Workflow.Name, tk.Requester)
		}
		if len(tk.Steps) != 1 || tk.Steps[0].Name != "Open request" {
			t.Fatalf("steps %+v", tk.Steps)
		}
		if v, ok := tk.Value("Business Justification"); !ok || v != "orders db" {
			t.Errorf("Business Justification = %q, %v", v, ok)
		}
	})

	t.Run("many steps many fields", func(t *testing.T) {
		tk, err := cl.Ticket(ctx, "1234")
		if err != nil {
			t.Fatal(err)
		}
		if tk.Workflow.Name != "Access Request" || tk.Subject != "Allow web to db" {
			t.Errorf("workflow %q subject %q", tk.Workflow.Name, tk.Subject)
		}
		var names []string
		for _, s := range tk.Steps {
			names = append(names, s.Name)
		}
		if got := strings.Join(names, "|"); got != "Open request|Risk Review|Approval" {
			t.Errorf("steps %s", got)
		}
		if tk.CurrentStep == nil || tk.CurrentStep.Name != "Approval" {
			t.Errorf("current step %+v", tk.CurrentStep)
		}
		if prev, ok := tk.PreviousStep(); !ok || prev.Name != "Risk Review" {
			t.Errorf("previous step %q", prev.Name)
		}
		for field, want := range map[string]string{"Risk": "Low", "Zones": "DMZ, Core", "ITSM Ticket": "CHG0012345", "Emergency": "false"} {
			if v, ok := tk.Value(field); !ok || v != want {
				t.Errorf("%s = %q, %v; want %q", field, v, ok, want)
			}
		}
	})

	if got := sim.requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
}

func TestTicketConcurrent(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t)
	cl, _ := newSCClient(t, scConfig(t, sim.url()))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := []string{"1", "1234"}[i%2]
			if tk, err := cl.Ticket(t.Context(), id); err != nil || tk.ID != id {
				t.Errorf("ticket %s: %q, %v", id, tk.ID, err)
			}
		})
	}
	wg.Wait()
}

func TestTicketRetries5xxThenSucceeds(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t, scStatus(http.StatusServiceUnavailable, 2, nil))
	cl, logs := newSCClient(t, scConfig(t, sim.url()))
	start := time.Now()
	tk, err := cl.Ticket(t.Context(), "1234")
	if err != nil {
		t.Fatal(err)
	}
	if tk.ID != "1234" {
		t.Errorf("ticket %q", tk.ID)
	}
	if got := sim.requests.Load(); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
	// Backoff 10ms then 20ms, each -20 % at worst.
	if el := time.Since(start); el < 24*time.Millisecond {
		t.Errorf("took %s: the backoff was not waited", el)
	}
	retries := 0
	for _, r := range logRecords(t, logs) {
		if strings.Contains(fmt.Sprint(r["msg"]), "retrying") {
			retries++
		}
	}
	if retries != 2 {
		t.Errorf("%d retry log lines, want 2:\n%s", retries, logs)
	}
}

func TestTicketHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t, scStatus(http.StatusTooManyRequests, 1, map[string]string{"Retry-After": "1"}))
	cl, _ := newSCClient(t, scConfig(t, sim.url()))
	start := time.Now()
	if _, err := cl.Ticket(t.Context(), "1"); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if el < 900*time.Millisecond || el > 15*time.Second {
		t.Errorf("took %s, want about 1s (Retry-After: 1)", el)
	}
	if got := sim.requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
}

func TestTicketGivesUpAfterRetries(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t, scStatus(http.StatusServiceUnavailable, 1<<30, nil))
	c := scConfig(t, sim.url())
	c.Retries = new(3)
	cl, _ := newSCClient(t, c)
	_, err := cl.Ticket(t.Context(), "1234")
	if err == nil {
		t.Fatal("no error")
	}
	if failure.IsPermanent(err) {
		t.Errorf("permanent: %v", err)
	}
	if got := sim.requests.Load(); got != int32(*c.Retries+1) {
		t.Errorf("%d requests, want %d", got, *c.Retries+1)
	}
	for _, want := range []string{"ticket 1234", "503", "after 4 attempts", "simulated 503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	scCheckNoSecret(t, "error", err.Error())
}

func TestTicketNotFoundIsPermanent(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t)
	cl, _ := newSCClient(t, scConfig(t, sim.url()))
	_, err := cl.Ticket(t.Context(), "77")
	if !failure.IsPermanent(err) {
		t.Fatalf("not permanent: %v", err)
	}
	if !strings.Contains(err.Error(), "ticket 77 not found in SecureChange (404)") {
		t.Errorf("error %q", err)
	}
	if !strings.Contains(err.Error(), "Ticket with ID 77 does not exist") {
		t.Errorf("error %q does not quote the response", err)
	}
	if got := sim.requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestTicketUnauthorized(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t)
	c := scConfig(t, sim.url())
	c.PasswordFile = scWriteFile(t, "password", "Wr0ng-passw0rd")
	cl, _ := newSCClient(t, c)
	_, err := cl.Ticket(t.Context(), "1234")
	if err == nil {
		t.Fatal("no error")
	}
	if failure.IsPermanent(err) {
		t.Errorf("a credentials problem must not lose the trigger: %v", err)
	}
	if !errors.Is(err, ErrAccess) {
		t.Errorf("does not wrap ErrAccess: %v", err)
	}
	for _, want := range []string{"ticket 1234", "401", "securechange.user", "securechange.password_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	scCheckNoSecret(t, "error", err.Error())
	if strings.Contains(err.Error(), scBasic(scTestUser, "Wr0ng-passw0rd")) {
		t.Errorf("error leaks the Authorization header: %v", err)
	}
	if got := sim.requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1 (no retry)", got)
	}
}

func TestTicketStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		opt       scSimOpt
		permanent bool
		access    bool
		requests  int32
		want      string
	}{
		{"400", scStatus(http.StatusBadRequest, 1<<30, nil), true, false, 1, "HTTP 400 Bad Request"},
		{"409", scStatus(http.StatusConflict, 1<<30, nil), true, false, 1, "HTTP 409 Conflict"},
		{"403", scStatus(http.StatusForbidden, 1<<30, nil), false, true, 1, "securechange.user"},
		{"408 retried", scStatus(http.StatusRequestTimeout, 1<<30, nil), false, false, 4, "HTTP 408"},
		{"500 retried", scStatus(http.StatusInternalServerError, 1<<30, nil), false, false, 4, "HTTP 500"},
		{"redirect not followed", scStatus(http.StatusFound, 1<<30, map[string]string{"Location": "http://elsewhere.invalid/login"}), false, false, 1, "securechange.url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSCSim(t, tc.opt)
			cl, _ := newSCClient(t, scConfig(t, sim.url()))
			_, err := cl.Ticket(t.Context(), "1234")
			if err == nil {
				t.Fatal("no error")
			}
			if failure.IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", failure.IsPermanent(err), tc.permanent, err)
			}
			if errors.Is(err, ErrAccess) != tc.access {
				t.Errorf("errors.Is(ErrAccess) = %v, want %v", !tc.access, tc.access)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "1234") {
				t.Errorf("error %q does not name the ticket and %q", err, tc.want)
			}
			if got := sim.requests.Load(); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
		})
	}
}

func TestTicketSlowServerTimesOut(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t, scHook(func(_ int, _ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done() // never answers; returns once the client hangs up
		return true
	}))
	c := scConfig(t, sim.url())
	c.Timeout = 150 * time.Millisecond
	c.Retries = new(2)
	cl, _ := newSCClient(t, c)
	start := time.Now()
	_, err := cl.Ticket(t.Context(), "1234")
	el := time.Since(start)
	if err == nil {
		t.Fatal("no error")
	}
	if failure.IsPermanent(err) {
		t.Errorf("permanent: %v", err)
	}
	if !strings.Contains(err.Error(), "no response within 150ms") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("error %q", err)
	}
	if got := sim.requests.Load(); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
	if el < 3*c.Timeout {
		t.Errorf("took %s, less than 3 timeouts", el)
	}
}

func TestTicketStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	hang := scHook(func(_ int, _ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	})
	cases := []struct {
		name string
		opt  scSimOpt
		c    func(*config.SecureChange)
	}{
		// Cancelled while the request is in flight.
		{"during request", hang, func(c *config.SecureChange) { c.Timeout = time.Minute }},
		// Cancelled while waiting out a long backoff.
		{"during backoff", scStatus(http.StatusBadGateway, 1<<30, nil), func(c *config.SecureChange) { c.RetryBackoff = time.Minute }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSCSim(t, tc.opt)
			c := scConfig(t, sim.url())
			tc.c(&c)
			cl, _ := newSCClient(t, c)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				_, err := cl.Ticket(ctx, "1234")
				done <- err
			}()
			sim.waitArrival()
			cancel()
			start := time.Now()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Ticket did not return after the context was cancelled")
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("returned %s after cancel", el)
			}
			if !errors.Is(err, context.Canceled) || failure.IsPermanent(err) {
				t.Errorf("error %v: want transient, wrapping context.Canceled", err)
			}
			if got := sim.requests.Load(); got != 1 {
				t.Errorf("%d requests, want 1", got)
			}
		})
	}

	t.Run("deadline before Retry-After", func(t *testing.T) {
		t.Parallel()
		sim := newSCSim(t, scStatus(http.StatusTooManyRequests, 1<<30, map[string]string{"Retry-After": "3600"}))
		cl, _ := newSCClient(t, scConfig(t, sim.url()))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := cl.Ticket(ctx, "1234")
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("took %s: it waited instead of giving up", el)
		}
		if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), "429") {
			t.Errorf("error %v", err)
		}
		if got := sim.requests.Load(); got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
}

func TestTicketBadBody(t *testing.T) {
	t.Parallel()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "securechange", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bodies := map[string][]byte{
		"500": read("truncated_ticket.json"),
		"501": read("error_result.json"), // a 200 carrying SecureChange's error object
		"502": []byte("<html><body>Please log in</body></html>"),
		"503": nil,
	}
	sim := newSCSim(t, scHook(func(_ int, w http.ResponseWriter, r *http.Request) bool {
		id, _ := strings.CutSuffix(r.PathValue("file"), ".json")
		b, ok := bodies[id]
		if !ok {
			return false
		}
		_, _ = w.Write(b)
		return true
	}))
	cl, _ := newSCClient(t, scConfig(t, sim.url()))
	for id := range bodies {
		t.Run(id, func(t *testing.T) {
			before := sim.requests.Load()
			_, err := cl.Ticket(t.Context(), id)
			if !failure.IsPermanent(err) || !errors.Is(err, ErrBadTicketJSON) {
				t.Errorf("want permanent ErrBadTicketJSON, got %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), "ticket "+id) {
				t.Errorf("error %q does not name the ticket", err)
			}
			if got := sim.requests.Load() - before; got != 1 {
				t.Errorf("%d requests, want 1", got)
			}
		})
	}

	t.Run("another ticket", func(t *testing.T) {
		sim.tickets["999"] = sim.tickets["1"]
		_, err := cl.Ticket(t.Context(), "999")
		if !failure.IsPermanent(err) || !strings.Contains(err.Error(), "returned ticket 1") {
			t.Errorf("error %v", err)
		}
	})
}

func TestTicketRejectsBadTicketID(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t)
	cl, _ := newSCClient(t, scConfig(t, sim.url()))
	for _, id := range []string{"", "12a", "../1", "1?x=1", "1/../../2", " 1", "1\n", "-1", "+1", "0x1F", "１２", "12345678901234567890", strings.Repeat("9", 100)} {
		_, err := cl.Ticket(t.Context(), id)
		if !failure.IsPermanent(err) {
			t.Errorf("%q: not permanent: %v", id, err)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("%q: error too long: %s", id, err)
		}
	}
	if got := sim.requests.Load(); got != 0 {
		t.Errorf("%d requests, want none", got)
	}
}

func TestTicketRedactsResponseBody(t *testing.T) {
	t.Parallel()
	// A broken proxy echoing the request back.
	sim := newSCSim(t, scHook(func(_ int, w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request; Authorization: %s; password=%s; %s",
			r.Header.Get("Authorization"), scTestPass, strings.Repeat("padding ", 100))
		return true
	}))
	cl, _ := newSCClient(t, scConfig(t, sim.url()))
	_, err := cl.Ticket(t.Context(), "1234")
	if err == nil {
		t.Fatal("no error")
	}
	scCheckNoSecret(t, "error", err.Error())
	i := strings.Index(err.Error(), "response: ")
	if i < 0 {
		t.Fatalf("error %q quotes no response", err)
	}
	quoted := strings.TrimSuffix(err.Error()[i+len("response: "):], "…")
	if len(quoted) > maxSnippet {
		t.Errorf("quotes %d bytes of the response, want at most %d", len(quoted), maxSnippet)
	}
	if !strings.Contains(quoted, "[REDACTED]") {
		t.Errorf("quote %q", quoted)
	}
}

func TestSnippet(t *testing.T) {
	t.Parallel()
	secrets := []string{"hunter2-pw", scBasic("u", "hunter2-pw")}
	cases := []struct {
		in       string
		want     string // must contain
		mustNot  []string
		maxBytes int
	}{
		{`{"result":{"message":"Ticket 5 does not exist"}}`, `Ticket 5 does not exist`, nil, 0},
		{`Basic authentication required`, `Basic authentication required`, nil, 0},
		{"Authorization: Basic " + scBasic("u", "hunter2-pw"), "[REDACTED]", []string{scBasic("u", "hunter2-pw")}, 0},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "[REDACTED]", []string{"eyJhbGci"}, 0},
		{`{"user":"u","password":"other-secret-1"}`, `"user":"u"`, []string{"other-secret-1"}, 0},
		{`token=abc123&next=/x`, `next=/x`, []string{"abc123"}, 0},
		{`api_key: 'k-999'`, "[REDACTED]", []string{"k-999"}, 0},
		{`Set-Cookie: JSESSIONID=0A1B2C3D; Path=/`, "Path=/", []string{"0A1B2C3D"}, 0},
		{`see https://admin:pa55@sc.example/x`, "https://[REDACTED]@sc.example/x", []string{"pa55"}, 0},
		{`<auth><password>xml-pw</password></auth>`, "[REDACTED]", []string{"xml-pw"}, 0},
		{"the literal hunter2-pw appears", "the literal [REDACTED] appears", []string{"hunter2"}, 0},
		{"line one\r\n\tline two\x00", "line one line two", nil, 0},
		{strings.Repeat("é", 300), "é", nil, maxSnippet},
		{strings.Repeat("x", 150) + " password=" + strings.Repeat("z", 200), "[REDACTED]", []string{"zzz"}, maxSnippet},
	}
	for _, tc := range cases {
		got := snippet([]byte(tc.in), secrets)
		if !strings.Contains(got, tc.want) {
			t.Errorf("snippet(%.40q) = %q, want it to contain %q", tc.in, got, tc.want)
		}
		for _, bad := range tc.mustNot {
			if strings.Contains(got, bad) {
				t.Errorf("snippet(%.40q) = %q leaks %q", tc.in, got, bad)
			}
		}
		if body := strings.TrimSuffix(got, "…"); len(body) > maxSnippet || !utf8.ValidString(got) {
			t.Errorf("snippet(%.40q): %d bytes, valid UTF-8 %v", tc.in, len(body), utf8.ValidString(got))
		}
	}
}

func TestRetryWait(t *testing.T) {
	t.Parallel()
	for range 200 {
		for retry, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
			d := retryWait(100*time.Millisecond, retry)
			if d < want*8/10 || d > want*12/10 {
				t.Fatalf("retry %d: %s, want %s ±20%%", retry, d, want)
			}
		}
		if d := retryWait(100*time.Millisecond, 1000); d < 8*time.Second || d > maxBackoff {
			t.Fatalf("retry 1000: %s, want capped at %s", d, maxBackoff)
		}
		if d := retryWait(time.Hour, 0); d > maxBackoff {
			t.Fatalf("base 1h: %s", d)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"3600", 30 * time.Second, true},
		{"99999999999999999999", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), 30 * time.Second, true},
	}
	for _, tc := range cases {
		got, ok := retryAfter(tc.h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tc.h, got, ok, tc.want, tc.ok)
		}
	}
}

// scWriteCA writes the TLS simulator's certificate as a PEM CA file.
func scWriteCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	return scWriteFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
}

func TestTicketTLS(t *testing.T) {
	t.Parallel()
	sim := newSCSim(t, scTLSOn())

	t.Run("ca_file", func(t *testing.T) {
		t.Parallel()
		c := scConfig(t, sim.url())
		c.TLS.CAFile = scWriteCA(t, sim.srv)
		cl, logs := newSCClient(t, c)
		if _, err := cl.Ticket(t.Context(), "1"); err != nil {
			t.Fatal(err)
		}
		if s := logs.String(); strings.Contains(s, "WARN") {
			t.Errorf("unexpected warning: %s", s)
		}
	})

	t.Run("unknown authority", func(t *testing.T) {
		t.Parallel()
		sim := newSCSim(t, scTLSOn()) // its own, to count connections
		cl, _ := newSCClient(t, scConfig(t, sim.url()))
		_, err := cl.Ticket(t.Context(), "1")
		if err == nil {
			t.Fatal("an unverified certificate was accepted")
		}
		if !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "securechange.tls.ca_file") {
			t.Errorf("error %q", err)
		}
		if failure.IsPermanent(err) {
			t.Errorf("permanent: %v", err)
		}
		if got := sim.conns.Load(); got != 1 {
			t.Errorf("%d connections, want 1 (no retry)", got)
		}
		if got := sim.requests.Load(); got != 0 {
			t.Errorf("%d requests reached the server", got)
		}
	})

	t.Run("insecure_skip_verify", func(t *testing.T) {
		t.Parallel()
		c := scConfig(t, sim.url())
		c.TLS.InsecureSkipVerify = true
		cl, logs := newSCClient(t, c)
		for _, id := range []string{"1", "1234"} {
			if _, err := cl.Ticket(t.Context(), id); err != nil {
				t.Fatal(err)
			}
		}
		warns := 0
		for _, r := range logRecords(t, logs) {
			if r["level"] == "WARN" && strings.Contains(fmt.Sprint(r["msg"]), "insecure_skip_verify") {
				warns++
			}
		}
		if warns != 1 {
			t.Errorf("%d insecure_skip_verify warnings, want 1:\n%s", warns, logs)
		}
	})

	t.Run("client certificate", func(t *testing.T) {
		t.Parallel()
		client := natstest.SelfSignedCert(t)
		sim := newSCSim(t, scTLSWith(&tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: client.Pool()}))
		c := scConfig(t, sim.url())
		c.TLS.CAFile = scWriteCA(t, sim.srv)
		c.TLS.CertFile, c.TLS.KeyFile = client.CertFile, client.KeyFile
		cl, _ := newSCClient(t, c)
		if _, err := cl.Ticket(t.Context(), "1"); err != nil {
			t.Fatal(err)
		}

		c.TLS.CertFile, c.TLS.KeyFile = "", ""
		c.Retries = new(0)
		cl, _ = newSCClient(t, c)
		if _, err := cl.Ticket(t.Context(), "1"); err == nil {
			t.Error("the server accepted a client without a certificate")
		}
	})
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	good := func() config.SecureChange { return scConfig(t, "https://sc.example"+scAPIPath) }
	cases := []struct {
		name string
		mod  func(*config.SecureChange)
		want string
	}{
		{"user env unset", func(c *config.SecureChange) { c.User, c.UserEnv = "", "TRIGGERFLOW_TEST_UNSET_SC_USER" },
			"securechange.user_env: environment variable TRIGGERFLOW_TEST_UNSET_SC_USER is not set"},
		{"password file missing", func(c *config.SecureChange) { c.PasswordFile = filepath.Join(t.TempDir(), "nope") }, "securechange.password_file: read secret file"},
		{"ca file missing", func(c *config.SecureChange) { c.TLS.CAFile = filepath.Join(t.TempDir(), "nope.pem") }, "securechange.tls.ca_file"},
		{"ca file not pem", func(c *config.SecureChange) { c.TLS.CAFile = scWriteFile(t, "ca.pem", "hello") }, "no PEM certificate"},
		{"key pair", func(c *config.SecureChange) {
			c.TLS.CertFile, c.TLS.KeyFile = scWriteFile(t, "c.pem", "x"), scWriteFile(t, "k.pem", scTestPass)
		}, "securechange.tls.cert_file/key_file"},
	}
	for _, tc := range cases {
		c := good()
		tc.mod(&c)
		_, err := New(c, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.name, err, tc.want)
		}
		if err != nil {
			scCheckNoSecret(t, tc.name, err.Error())
		}
	}
	if _, err := New(good(), nil); err != nil {
		t.Errorf("good config: %v", err)
	}
}

func TestNewUserEnv(t *testing.T) {
	t.Setenv("TRIGGERFLOW_TEST_SC_USER", scTestUser)
	t.Setenv("TRIGGERFLOW_TEST_SC_PASSWORD", scTestPass)
	sim := newSCSim(t)
	c := config.Default().SecureChange // timeout and retry_backoff
	c.URL, c.UserEnv, c.PasswordEnv = sim.url()+"/", "TRIGGERFLOW_TEST_SC_USER", "TRIGGERFLOW_TEST_SC_PASSWORD"
	cl, logs := newSCClient(t, c)
	if _, err := cl.Ticket(t.Context(), "1"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "plain http") {
		t.Errorf("no warning about plain http: %s", logs)
	}
}
