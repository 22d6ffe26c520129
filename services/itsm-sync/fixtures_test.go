package itsmsync_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// testConfig is itsm-sync's config of the tests, for natsURL ("": the rig's own
// JetStream): fast retries, a generous deadline for everything else; mutate adjusts it.
func testConfig(natsURL string, mutate func(*config.Config)) *config.Config {
	cfg := config.Default()
	cfg.NATS.URL = natsURL
	cfg.ITSMSync.Instance = "itsm-sync-test"
	cfg.ITSMSync.Retry = config.Retry{Attempts: 4, Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	cfg.Servers = map[string]config.Server{}
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
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
