package securechangetest

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange"
)

const (
	// APIPath is the path of the API base below the server's address.
	APIPath = "/securechangeworkflow/api/securechange"
	// DefaultUser and DefaultPassword are the credentials the server accepts unless
	// WithCredentials says otherwise.
	DefaultUser     = "sc-api"
	DefaultPassword = "sc-secret"

	// maxBody bounds a request body the server reads.
	maxBody = 8 << 20
)

// Request is one request the server received.
type Request struct {
	Method string
	Path   string // the URL path, e.g. /securechangeworkflow/api/securechange/tickets/7.json
	Query  string // the raw query, e.g. handler_id=45
	Header http.Header
	Body   []byte
	Time   time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithTLS serves HTTPS with httptest's certificate; CAFile writes it for a client.
func WithTLS() Option { return func(s *Server) { s.tls = true } }

// WithCredentials sets the basic-auth user and password the server accepts.
func WithCredentials(user, password string) Option {
	return func(s *Server) { s.user, s.pass = user, password }
}

// Server is an in-memory SecureChange REST API on a real httptest server.
type Server struct {
	// URL is the API base: <scheme>://127.0.0.1:<port>/securechangeworkflow/api/securechange.
	URL string

	t          testing.TB
	srv        *httptest.Server
	tls        bool
	user, pass string

	mu       sync.Mutex
	tickets  map[string]*ticket
	users    map[string]json.RawMessage // by id: GET users/{id} (users.go)
	requests []Request
	// createdIDs are the tickets created by POST tickets, in order (create.go).
	createdIDs []string
	fail       struct {
		n          int
		status     int
		header     http.Header
		writesOnly bool
	}
	caFile string
}

// New starts a server; t.Cleanup closes it.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, user: DefaultUser, pass: DefaultPassword, tickets: map[string]*ticket{}}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewUnstartedServer(s.handler())
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed TLS handshakes are expected in tests
	if s.tls {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + APIPath
	return s
}

// CAFile writes the server's certificate as a PEM file (once) and returns its path.
// Without WithTLS it fails the test.
func (s *Server) CAFile() string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tls {
		s.t.Fatal("securechangetest: CAFile without WithTLS")
	}
	if s.caFile == "" {
		p := filepath.Join(s.t.TempDir(), "securechange-ca.pem")
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
		if err := os.WriteFile(p, b, 0o600); err != nil {
			s.t.Fatalf("securechangetest: %v", err)
		}
		s.caFile = p
	}
	return s.caFile
}

// Config is a client configuration for the server: its URL, the user, the password in
// a temporary file (so tests may run in parallel), the CA file with WithTLS, a 10s
// timeout and 2 retries from 10ms.
func (s *Server) Config() config.SecureChange {
	s.t.Helper()
	p := filepath.Join(s.t.TempDir(), "securechange-password")
	if err := os.WriteFile(p, []byte(s.pass+"\n"), 0o600); err != nil {
		s.t.Fatalf("securechangetest: %v", err)
	}
	retries := 2
	c := config.SecureChange{
		URL: s.URL, User: s.user, PasswordFile: p,
		Timeout: 10 * time.Second, Retries: &retries, RetryBackoff: 10 * time.Millisecond,
	}
	if s.tls {
		c.TLS.CAFile = s.CAFile()
	}
	return c
}

// Put stores a ticket: the JSON object as SecureChange returns it, with or without the
// {"ticket":…} wrapper. It replaces a ticket with the same id. Steps listed after
// current_step are the steps still to come (see the package documentation).
func (s *Server) Put(ticketJSON json.RawMessage) {
	s.t.Helper()
	tk, err := newTicket(ticketJSON)
	if err != nil {
		s.t.Fatalf("securechangetest: Put: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickets[tk.id()] = tk
}

// Ticket is the current state of a stored ticket, decoded as a GET would return it.
// An unknown id fails the test.
func (s *Server) Ticket(id string) securechange.Ticket {
	s.t.Helper()
	t, err := securechange.DecodeTicket(s.TicketJSON(id))
	if err != nil {
		s.t.Fatalf("securechangetest: ticket %s: %v", id, err)
	}
	return t
}

// TicketJSON is the body a GET of the ticket answers, {"ticket":{…}}. An unknown id
// fails the test.
func (s *Server) TicketJSON(id string) json.RawMessage {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, ok := s.tickets[id]
	if !ok {
		s.t.Fatalf("securechangetest: no ticket %s", id)
	}
	return tk.render()
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// FailNext makes the next n requests, whatever they are, fail with status, the
// headers in header (e.g. Retry-After) and a SecureChange-style error body. That body
// quotes the request's Authorization header, as a misbehaving proxy might, so that
// tests can check that clients never repeat it.
func (s *Server) FailNext(n int, status int, header http.Header) {
	s.failNext(n, status, header, false)
}

// FailNextWrites is FailNext for the next n requests that are not GETs: the client's
// read of the ticket succeeds and its write fails.
func (s *Server) FailNextWrites(n int, status int, header http.Header) {
	s.failNext(n, status, header, true)
}

func (s *Server) failNext(n, status int, header http.Header, writesOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail.n, s.fail.status, s.fail.header, s.fail.writesOnly = n, status, header.Clone(), writesOnly
}

// handler records every request, then applies FailNext, then the credentials, then
// the API.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	task := "PUT " + APIPath + "/tickets/{id}/steps/{step}/tasks/{task}"
	mux.HandleFunc("GET "+APIPath+"/tickets/{file}", s.locked(s.getTicket))
	mux.HandleFunc(task+"/fields", s.locked(s.putFields))
	mux.HandleFunc(task+"/fields/{$}", s.locked(s.putFields))
	mux.HandleFunc(task+"/fields/{field}", s.locked(s.putFields))
	mux.HandleFunc(task, s.locked(s.putTask))
	mux.HandleFunc(task+"/redo/{to}", s.locked(s.redo))
	mux.HandleFunc("PUT "+APIPath+"/tickets/{id}/reject", s.locked(s.reject))
	mux.HandleFunc("POST "+APIPath+"/tickets", s.created(s.createTicket))
	mux.HandleFunc("POST "+APIPath+"/tickets/{$}", s.created(s.createTicket))
	mux.HandleFunc("POST "+APIPath+"/tickets/{id}/steps/{step}/tasks/{task}/comments", s.created(s.addComment))
	mux.HandleFunc("GET "+APIPath+"/users/{file}", s.locked(s.getUser))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "WEB_APPLICATION_EXCEPTION", "HTTP 404 Not Found: no resource "+r.Method+" "+r.URL.Path)
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
		r.Body = io.NopCloser(bytes.NewReader(body))

		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Time: time.Now()})
		failing := s.fail.n > 0 && (!s.fail.writesOnly || r.Method != http.MethodGet)
		status, header := s.fail.status, s.fail.header
		if failing {
			s.fail.n--
		}
		s.mu.Unlock()

		if failing {
			for k, vs := range header {
				w.Header()[k] = slices.Clone(vs)
			}
			writeError(w, status, "SIMULATED_FAILURE", fmt.Sprintf("simulated HTTP %d for %s %s (Authorization: %s)",
				status, r.Method, r.URL.Path, r.Header.Get("Authorization")))
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="SecureChange"`)
			w.Header().Set("Content-Type", "text/html;charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, "<!doctype html><html><head><title>HTTP Status 401 – Unauthorized</title></head>"+
				"<body><h1>HTTP Status 401 – Unauthorized</h1><p>Basic authentication required</p></body></html>")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// apiError is an error answer: HTTP status, SecureChange's result code and message.
type apiError struct {
	status  int
	code    string
	message string
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ILLEGAL_ARGUMENT_ERROR", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, "WEB_APPLICATION_EXCEPTION", fmt.Sprintf(format, args...)}
}

// locked runs an API handler under the lock and writes its answer: the JSON body it
// returns (none if nil) with 200, or its error.
func (s *Server) locked(h func(*http.Request) (json.RawMessage, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, e := h(r)
		s.mu.Unlock()
		if e != nil {
			writeError(w, e.status, e.code, e.message)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(map[string]any{"result": map[string]string{"code": code, "message": message}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
