// Package securechangetest is an in-memory SecureChange REST API for tests: a real
// httptest server holding tickets as SecureChange returns them, that answers the reads
// and write-backs the securechange client makes the way SecureChange does.
//
// What it models (paths below Server.URL, …/securechangeworkflow/api/securechange):
//
//	GET  tickets/{id}.json, tickets/{id}         {"ticket":{…}}: the stored JSON, with
//	                                             its one-object-or-array collections as
//	                                             stored; a collection that changes size
//	                                             is written the SecureChange way (one
//	                                             element: an object, more: an array)
//	PUT  tickets/{id}/steps/{step}/tasks/{task}/fields[/]
//	     {"fields":{"field":[…]}} and …/fields/{field} {"field":{…}}: updates the
//	                                             fields by id (400 for an unknown id, a
//	                                             type that differs, an option that does
//	                                             not exist or a value of the wrong kind)
//	PUT  tickets/{id}/steps/{step}/tasks/{task}  {"task":{"id":…,"name":…,"status":"DONE",
//	                                             "fields":{"field":[…]}}}: the whole task,
//	                                             as the SDKs send it (400 without id or
//	                                             fields, or for another task's id); marks
//	                                             the task DONE and applies the fields;
//	                                             when every task of the step is DONE the
//	                                             ticket advances
//	PUT  tickets/{id}/steps/{step}/tasks/{task}/redo/{to_step_id}
//	     {"redo_step_comment":{"comment":…}}     back to an earlier step
//	GET  users/{id}.json, users/{id}             {"user":{…}} or, for a group,
//	                                             {"group":{…,"members":{"user":[…]}}}
//	                                             (PutUser, PutGroup; users.go)
//	PUT  tickets/{id}/reject[?handler_id={user}] {"reject_comment":{"comment":…}}:
//	                                             status "Ticket Rejected", no current step
//
// {step} is a step id or "current"; a write to another step than the current one, to a
// task that is DONE, or to a closed ticket is a 400. Errors have SecureChange's body,
// {"result":{"code":…,"message":…}}; bad credentials get 401 with an HTML page like
// SecureChange's; an unknown ticket 404.
//
// The workflow is simplified: a stored ticket lists its steps, and the steps after
// current_step are the ones still to come. GET shows only the steps reached so far
// (as SecureChange does: the last one is the current step), and advancing enters the
// next step of that list, or closes the ticket (status "Ticket Closed", SecureChange's
// statuses are in status.go) after the last. A redo
// marks the current step "redone" and enters a new instance of the target step (new
// ids, tasks ASSIGNED, the fields as last written); advancing from there re-enters the
// steps after it the same way.
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
	"strings"
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
	fail     struct {
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

// ticketFor finds the ticket of the request's {id}.
func (s *Server) ticketFor(id string) (*ticket, *apiError) {
	tk, ok := s.tickets[id]
	if !ok {
		return nil, notFound("Ticket with ID %s does not exist", id)
	}
	return tk, nil
}

func (s *Server) getTicket(r *http.Request) (json.RawMessage, *apiError) {
	id := strings.TrimSuffix(r.PathValue("file"), ".json")
	tk, e := s.ticketFor(id)
	if e != nil {
		return nil, e
	}
	return tk.render(), nil
}

// openTask finds the request's {step} and {task} in the ticket's current step; the
// task must not be DONE.
func (s *Server) openTask(r *http.Request) (*ticket, map[string]any, map[string]any, *apiError) {
	tk, e := s.ticketFor(r.PathValue("id"))
	if e != nil {
		return nil, nil, nil, e
	}
	step, ok := tk.current()
	if !ok {
		return nil, nil, nil, badRequest("Ticket %s is closed (status %s)", tk.id(), str(tk.obj, "status"))
	}
	if sid := r.PathValue("step"); sid != "current" && sid != idOf(step) {
		return nil, nil, nil, badRequest("Step %s is not the current step of ticket %s (current step: %s %q)", sid, tk.id(), idOf(step), str(step, "name"))
	}
	tid := r.PathValue("task")
	for _, task := range elems(step, "tasks", "task") {
		if idOf(task) == tid {
			if strings.EqualFold(str(task, "status"), "DONE") {
				return nil, nil, nil, badRequest("Task %s of ticket %s is already done", tid, tk.id())
			}
			return tk, step, task, nil
		}
	}
	return nil, nil, nil, badRequest("Task %s is not a task of the current step %q of ticket %s", tid, str(step, "name"), tk.id())
}

// putFields: PUT …/fields {"fields":{"field":…}}, or …/fields/{field} {"field":{…}}.
func (s *Server) putFields(r *http.Request) (json.RawMessage, *apiError) {
	_, _, task, e := s.openTask(r)
	if e != nil {
		return nil, e
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	var fields []map[string]any
	if one := r.PathValue("field"); one != "" {
		f, ok := body["field"].(map[string]any)
		if !ok {
			f = body // a bare field object
		}
		if _, ok := f["id"]; !ok {
			f["id"] = one
		}
		if idOf(f) != one {
			return nil, badRequest("Field id %s in the body does not match the path's %s", idOf(f), one)
		}
		fields = []map[string]any{f}
	} else {
		w, ok := body["fields"].(map[string]any)
		if !ok {
			return nil, badRequest(`Expected {"fields":{"field":[…]}}`)
		}
		fields = elems(map[string]any{"fields": w}, "fields", "field")
		if len(fields) == 0 {
			return nil, badRequest("No fields to update")
		}
	}
	if e := updateFields(task, fields); e != nil {
		return nil, e
	}
	return nil, nil
}

// putTask: PUT …/tasks/{task} {"task":{"status":"DONE", "fields":…}}.
func (s *Server) putTask(r *http.Request) (json.RawMessage, *apiError) {
	tk, step, task, e := s.openTask(r)
	if e != nil {
		return nil, e
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	in, ok := body["task"].(map[string]any)
	if !ok {
		return nil, badRequest(`Expected {"task":{…}}`)
	}
	if e := checkTaskBody(task, in); e != nil {
		return nil, e
	}
	if fs := elems(in, "fields", "field"); len(fs) > 0 {
		if e := updateFields(task, fs); e != nil {
			return nil, e
		}
	}
	status, _ := in["status"].(string)
	switch strings.ToUpper(status) {
	case "":
	case "DONE":
		task["status"] = "DONE"
		for _, other := range elems(step, "tasks", "task") {
			if !strings.EqualFold(str(other, "status"), "DONE") {
				return nil, nil // the step waits for its other tasks
			}
		}
		tk.advance()
	default:
		task["status"] = status
	}
	return nil, nil
}

// checkTaskBody: the task of PUT …/tasks/{task} is the whole task, as Tufin's SDKs send
// it (pytos put_task after mark_as_done, pytos2's {"task":{id, name, status, fields}}):
// "id" the task's, "name" (when given) the task's, and "fields" with its "field" list
// always present. A strict server rejects anything less, {"task":{"status":"DONE"}} too.
func checkTaskBody(task, in map[string]any) *apiError {
	id, ok := in["id"]
	if !ok {
		return badRequest(`Task id is missing: send the task as read, {"task":{"id":…,"name":…,"status":…,"fields":{"field":[…]}}}`)
	}
	if fmt.Sprint(id) != idOf(task) {
		return badRequest("Task id %v in the body is not task %s of the path", id, idOf(task))
	}
	if name, ok := in["name"]; ok && fmt.Sprint(name) != str(task, "name") {
		return badRequest("Task name %q in the body is not the task's, %q", fmt.Sprint(name), str(task, "name"))
	}
	fields, ok := in["fields"].(map[string]any)
	if !ok {
		return badRequest(`Task fields are missing: send them as read, "fields":{"field":[…]}`)
	}
	list, ok := fields["field"]
	if !ok {
		return badRequest(`Task fields have no "field" list`)
	}
	// Each field sent back is a write: never a read-only one (pytos drops them with
	// Step_Task.remove_read_only_fields before put_task), and each value under its key.
	items, _ := list.([]any)
	if m, one := list.(map[string]any); one {
		items = []any{m}
	}
	for _, it := range items {
		if f, ok := it.(map[string]any); ok {
			if e := checkSDKShape(f, f); e != nil {
				return e
			}
		}
	}
	return nil
}

// redo: PUT …/tasks/{task}/redo/{to} {"redo_step_comment":{"comment":…}}.
func (s *Server) redo(r *http.Request) (json.RawMessage, *apiError) {
	tk, _, task, e := s.openTask(r)
	if e != nil {
		return nil, e
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	c, ok := body["redo_step_comment"].(map[string]any)
	if !ok {
		return nil, badRequest(`Expected {"redo_step_comment":{"comment":…}}`)
	}
	to := r.PathValue("to")
	cur := tk.currentIndex()
	target := -1
	for i := cur - 1; i >= 0; i-- {
		if idOf(tk.steps[i]) == to {
			target = i
			break
		}
	}
	if target < 0 {
		return nil, badRequest("Step %s is not an earlier step of ticket %s", to, tk.id())
	}
	tk.steps[cur]["redone"] = true
	name := str(tk.steps[target], "name")
	tk.enter(tk.instance(name))
	tk.comment(str(c, "comment"), "redo", str(task, "name"), s.user)
	return nil, nil
}

// reject: PUT /tickets/{id}/reject {"reject_comment":{"comment":…}}.
func (s *Server) reject(r *http.Request) (json.RawMessage, *apiError) {
	tk, e := s.ticketFor(r.PathValue("id"))
	if e != nil {
		return nil, e
	}
	step, ok := tk.current()
	if !ok {
		return nil, badRequest("Ticket %s is closed (status %s)", tk.id(), str(tk.obj, "status"))
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	c, ok := body["reject_comment"].(map[string]any)
	if !ok {
		return nil, badRequest(`Expected {"reject_comment":{"comment":…}}`)
	}
	if e := checkHandlerID(r); e != nil {
		return nil, e
	}
	tk.obj["status"] = StatusRejected
	delete(tk.obj, "current_step")
	tk.pending = nil
	tk.comment(str(c, "comment"), "reject", str(step, "name"), s.user)
	return nil, nil
}

// decodeBody decodes a JSON object body (numbers kept as json.Number).
func decodeBody(r *http.Request) (map[string]any, *apiError) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, &apiError{http.StatusUnsupportedMediaType, "WEB_APPLICATION_EXCEPTION", fmt.Sprintf("HTTP 415 Unsupported Media Type (Content-Type %q)", ct)}
	}
	var m map[string]any
	d := json.NewDecoder(r.Body)
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, badRequest("The request body is not a JSON object")
	}
	return m, nil
}

// checkHandlerID: reject's optional ?handler_id= (pytos2 reject_ticket) is a user id.
func checkHandlerID(r *http.Request) *apiError {
	q := r.URL.Query()
	if !q.Has("handler_id") {
		return nil
	}
	h := q.Get("handler_id")
	if h == "" || strings.Trim(h, "0123456789") != "" {
		return badRequest("handler_id %q is not a user id", h)
	}
	return nil
}
