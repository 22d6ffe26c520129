package itsmsync_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
)

// rig is a running itsm-sync (the real fx module) on a real JetStream.
type rig struct {
	t    testing.TB
	JS   jetstream.JetStream
	NC   *nats.Conn
	Logs *natstest.LogBuffer
	// Health serves the process's /healthz, /readyz and /metrics; Registry is its registry.
	Health   health.Handler
	Registry *prometheus.Registry
	app      *fxtest.App
	stop     func() // stops the service now (instead of at cleanup)
}

// baseConfig: fast retries, a generous deadline for everything else.
func baseConfig(natsURL string) *config.Config {
	cfg := config.Default()
	cfg.NATS.URL = natsURL
	cfg.ITSMSync.Instance = "itsm-sync-test"
	cfg.ITSMSync.Retry = config.Retry{Attempts: 4, Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	cfg.Servers = map[string]config.Server{}
	return cfg
}

// startSync runs the itsm-sync module; mutate adjusts the config first.
func startSync(t testing.TB, natsURL string, mutate func(*config.Config), hooks *itsmsync.Hooks) *rig {
	t.Helper()
	cfg := baseConfig(natsURL)
	if mutate != nil {
		mutate(cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	logs := &natstest.LogBuffer{}
	opts := []fx.Option{
		fx.Supply(cfg), fx.NopLogger,
		fx.Provide(func() *slog.Logger { return logging.New(logs, cfg.Log) }),
		natsconn.Module, health.Module, bus.RouterModule, itsmsync.Module,
	}
	if hooks != nil {
		opts = append(opts, fx.Supply(hooks))
	}
	g := &rig{t: t, Logs: logs}
	opts = append(opts, fx.Populate(&g.Health, &g.Registry))
	app := fxtest.New(t, opts...)
	app.RequireStart()
	g.app = app
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			app.RequireStop()
		}
	})
	g.stop = func() { stopped = true; app.RequireStop() }
	nc := natstest.Connect(t, natsURL)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	g.JS, g.NC = js, nc
	return g
}

// ticketJSON is an enriched ticket as SecureChange returns it.
func ticketJSON(id string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%s,"subject":"Allow web to db \"prod\"","requester":"a.smith","priority":"Normal","status":"In Progress",
"workflow":{"id":7,"name":"Access Request"},"current_step":{"id":12,"name":"Business Approval"},
"steps":{"step":[{"id":11,"name":"Submit Request","redone":false,"skipped":false,"tasks":{"task":{"id":21,"name":"Default","status":"DONE","assignee":"a.smith","fields":{"field":[]}}}},
{"id":12,"name":"Business Approval","redone":false,"skipped":false,"tasks":{"task":{"id":22,"name":"Default","status":"ASSIGNED","assignee":"b.jones","fields":{"field":[{"@xsi.type":"text_field","id":31,"name":"ITSM Change","text":""}]}}}}]},
"comments":{"comment":[]}}`, id))
}

// op builds an operation the way the dispatcher does, with its template context.
func op(kind events.OpKind, target, ticket string, event events.Trigger, route, action string, spec any) events.Operation {
	info := events.TicketInfo{ID: ticket, Subject: `Allow web to db "prod"`, UpdateDate: "1763884860000"}
	trig := events.NewTriggerEvent(event, info, []byte("<ticket_info/>"), "", "")
	trig.ReceivedAt = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	b, err := json.Marshal(spec)
	if err != nil {
		panic(err)
	}
	return events.Operation{
		ID: events.OperationID(trig.ID, route, action), Kind: kind, Target: target, Route: route,
		Action: action, TriggerID: trig.ID, Ticket: ticket, Event: event, Spec: b,
		Context: &events.OpContext{Trigger: trig, Ticket: ticketJSON(ticket)},
	}
}

// publish stores operations the way the dispatcher does (natstest.PublishOps).
func publish(t testing.TB, nc *nats.Conn, ops []events.Operation, header map[string]string, idSuffix string) {
	t.Helper()
	natstest.PublishOps(t, nc, header, idSuffix, ops...)
}

// msgs returns every message of a stream matching subject (NATS wildcards), in order.
func (g *rig) msgs(stream, subject string) []*jetstream.RawStreamMsg {
	g.t.Helper()
	return natstest.Msgs(g.t, g.JS, stream, subject)
}

// results decodes the results stored for subject.
func (g *rig) results(subject string) []events.Result {
	g.t.Helper()
	var out []events.Result
	for _, m := range g.msgs(events.StreamResults, subject) {
		r, err := events.UnmarshalResult(m.Data)
		if err != nil {
			g.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// waitResults polls until n results match subject, and returns them.
func (g *rig) waitResults(subject string, n int) []events.Result {
	g.t.Helper()
	var rs []events.Result
	natstest.CheckFor(g.t, 120*time.Second, 25*time.Millisecond, func() error {
		if rs = g.results(subject); len(rs) < n {
			return fmt.Errorf("%d results on %s, want %d", len(rs), subject, n)
		}
		return nil
	})
	return rs
}

// waitMsgs polls until n messages of stream match subject, and returns them: a failed
// operation's result is published before its dead letter.
func (g *rig) waitMsgs(stream, subject string, n int) []*jetstream.RawStreamMsg {
	g.t.Helper()
	var ms []*jetstream.RawStreamMsg
	natstest.CheckFor(g.t, 30*time.Second, 25*time.Millisecond, func() error {
		if ms = g.msgs(stream, subject); len(ms) < n {
			return fmt.Errorf("%d messages on %s in %s, want %d", len(ms), subject, stream, n)
		}
		return nil
	})
	return ms
}

// snow is an httptest server that behaves like ServiceNow's Table API for
// change_request: POST creates (201 {"result":{…}}), PATCH …/{sys_id} updates (404 for
// an unknown sys_id), GET ?sysparm_query=correlation_id=X lists. fault, when set, may
// answer instead (return 0 to pass).
type snow struct {
	*httptest.Server
	mu      sync.Mutex
	seq     int
	records map[string]*record // by sys_id
	events  []string           // "create <ticket>", "update <ticket> <body>", in arrival order
	creates map[string]int     // per u_securechange_ticket
	updates map[string]int
	lookups int
	fault   func(r *http.Request, body []byte) (int, http.Header)
	auth    func(r *http.Request) bool
}

type record struct {
	SysID, Number, Ticket, Correlation string
	Updates                            []string
}

func newSnow(t testing.TB) *snow {
	s := &snow{records: map[string]*record{}, creates: map[string]int{}, updates: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

const snowPath = "/api/now/table/change_request"

func (s *snow) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	fault, auth := s.fault, s.auth
	s.mu.Unlock()
	if auth != nil && !auth(r) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}`)
		return
	}
	if fault != nil {
		if code, h := fault(r, body); code != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"error":{"message":"injected %d"},"status":"failure"}`, code)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == snowPath:
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":{"message":"Invalid JSON: %s"}}`, strings.ReplaceAll(err.Error(), `"`, `'`))
			return
		}
		s.seq++
		rec := &record{SysID: fmt.Sprintf("%032x", s.seq), Number: fmt.Sprintf("CHG%07d", s.seq)}
		rec.Ticket, _ = in["u_securechange_ticket"].(string)
		rec.Correlation, _ = in["correlation_id"].(string)
		s.records[rec.SysID] = rec
		s.creates[rec.Ticket]++
		s.events = append(s.events, "create "+rec.Ticket)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{
			"sys_id": rec.SysID, "number": rec.Number, "correlation_id": rec.Correlation, "state": "-5",
		}})
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, snowPath+"/"):
		rec := s.records[strings.TrimPrefix(r.URL.Path, snowPath+"/")]
		if rec == nil {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}`)
			return
		}
		rec.Updates = append(rec.Updates, string(body))
		s.updates[rec.Ticket]++
		s.events = append(s.events, "update "+rec.Ticket)
		_ = json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"sys_id": rec.SysID, "number": rec.Number}})
	case r.Method == http.MethodGet && r.URL.Path == snowPath:
		s.lookups++
		q := strings.TrimPrefix(r.URL.Query().Get("sysparm_query"), "correlation_id=")
		list := []any{}
		for _, rec := range s.records {
			if rec.Correlation == q {
				list = append(list, map[string]any{"sys_id": rec.SysID, "number": rec.Number})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"result": list})
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":{"message":"unexpected %s %s"}}`, r.Method, r.URL.Path)
	}
}

func (s *snow) setFault(f func(r *http.Request, body []byte) (int, http.Header)) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// failBodies answers status to every request whose body contains marker.
func (s *snow) failBodies(marker string, status int) {
	s.setFault(func(_ *http.Request, body []byte) (int, http.Header) {
		if strings.Contains(string(body), marker) {
			return status, nil
		}
		return 0, nil
	})
}

// counts returns creates and updates of ticket.
func (s *snow) counts(ticket string) (creates, updates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates[ticket], s.updates[ticket]
}

// updatesOf returns the bodies of the updates of ticket's records, in arrival order.
func (s *snow) updatesOf(ticket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, rec := range s.records {
		if rec.Ticket == ticket {
			out = append(out, rec.Updates...)
		}
	}
	return out
}

func (s *snow) totalCreates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

func (s *snow) eventLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// snowRoutes are the actions of the ServiceNow example: create on CREATE (with a
// lookup-before-create on correlation_id = trigger id), update on ADVANCE.
func createSpec() events.ITSMSpec {
	return events.ITSMSpec{
		Server: "snow", Method: "POST", Path: snowPath,
		Body:     `{"short_description":"SecureChange #ticket_id#: #ticket_subject#","u_securechange_ticket":"#ticket_id#","correlation_id":"#trigger_id#"}`,
		Response: events.ResponseSpec{Correlate: map[string]string{"sys_id": "#result.sys_id#", "number": "#result.number#"}},
		Lookup: &events.LookupSpec{Path: snowPath + "?sysparm_query=correlation_id=#trigger_id#", Found: "result.0.sys_id",
			Response: &events.ResponseSpec{Correlate: map[string]string{"sys_id": "#result.0.sys_id#", "number": "#result.0.number#"}}},
	}
}

func updateSpec() events.ITSMSpec {
	return events.ITSMSpec{
		Server: "snow", Method: "PATCH", Path: snowPath + "/#correlation.sys_id#",
		Body: `{"work_notes":"Step #step_name# done (#correlation.number#)"}`,
	}
}

func withSnow(s *snow, mutate func(*config.Server)) func(*config.Config) {
	return func(c *config.Config) {
		sv := config.Server{BaseURL: s.URL}
		if mutate != nil {
			mutate(&sv)
		}
		c.Servers["snow"] = sv
	}
}
