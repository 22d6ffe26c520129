package securechange_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

func sampleNewTicket() securechange.NewTicket {
	return securechange.NewTicket{
		Workflow: "Access Request", Subject: "CHG0042: web to db", Requester: "a.jones", Priority: "High",
		Fields: map[string]string{"ITSM Change": "CHG0042", "Business Justification": "orders release"},
		AccessRequests: []securechange.AccessRequest{
			{Sources: []string{"10.0.0.0/24", "10.0.0.1-10.0.0.9"}, Destinations: []string{"10.0.1.5", "2001:db8::/32"},
				Services: []string{"tcp 443", "udp 53", "https"}, Action: "allow", Comment: "web tier"},
			{Sources: []string{"Any"}, Destinations: []string{"any"}, Services: []string{"any"}, Action: "deny"},
		},
	}
}

// TestCreateTicket: the body has the SDKs' shape (pytos post_ticket, pytos2
// create_ticket), the id comes from Location, and the simulator holds the ticket.
func TestCreateTicket(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	id, err := cl.CreateTicket(t.Context(), sampleNewTicket())
	if err != nil {
		t.Fatal(err)
	}
	if id != "8" {
		t.Errorf("id %q, want 8 (the largest stored + 1)", id)
	}
	if got := sim.Created(); len(got) != 1 || got[0] != id {
		t.Errorf("Created %v", got)
	}
	ws := writes(sim)
	if len(ws) != 1 || ws[0].Method != http.MethodPost || ws[0].Path != base+"/tickets" {
		t.Fatalf("writes %+v, want one POST %s/tickets", ws, base)
	}
	jsonEqual(t, ws[0].Body, `{"ticket":{"subject":"CHG0042: web to db","requester":"a.jones","priority":"High",
	  "workflow":{"name":"Access Request"},
	  "steps":{"step":[{"tasks":{"task":[{"fields":{"field":[
	    {"@xsi.type":"text_field","name":"Business Justification","text":"orders release"},
	    {"@xsi.type":"text_field","name":"ITSM Change","text":"CHG0042"},
	    {"@xsi.type":"multi_access_request","name":"Required Access","access_request":[
	      {"order":"AR1","use_topology":true,"targets":{"target":[{"@type":"ANY"}]},"users":{"user":["Any"]},
	       "sources":{"source":[{"@type":"IP","ip_address":"10.0.0.0","netmask":"255.255.255.0"},
	                            {"@type":"RANGE","range_first_ip":"10.0.0.1","range_last_ip":"10.0.0.9"}]},
	       "destinations":{"destination":[{"@type":"IP","ip_address":"10.0.1.5","netmask":"255.255.255.255"},
	                                      {"@type":"IP","ip_address":"2001:db8::","cidr":32}]},
	       "services":{"service":[{"@type":"PROTOCOL","protocol":"TCP","port":443},
	                              {"@type":"PROTOCOL","protocol":"UDP","port":53},
	                              {"@type":"PREDEFINED","predefined_name":"https"}]},
	       "action":"Accept","comment":"web tier"},
	      {"order":"AR2","use_topology":true,"targets":{"target":[{"@type":"ANY"}]},"users":{"user":["Any"]},
	       "sources":{"source":[{"@type":"ANY"}]},"destinations":{"destination":[{"@type":"ANY"}]},
	       "services":{"service":[{"@type":"ANY"}]},"action":"Drop"}]}]}}]}}]}}}`)

	tk := sim.Ticket(id)
	if tk.Subject != "CHG0042: web to db" || tk.Status != securechangetest.StatusInProgress || tk.CurrentStep == nil || len(tk.Steps) != 1 {
		t.Fatalf("stored %+v", tk)
	}
	if v, ok := tk.Value("ITSM Change"); !ok || v != "CHG0042" {
		t.Errorf("ITSM Change = %q, %v", v, ok)
	}
	// The new ticket takes the write-backs like any other.
	if err := cl.UpdateFields(t.Context(), id, map[string]string{"ITSM Change": "CHG0043"}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateTicketErrors(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t)
	bad := func(edit func(*securechange.NewTicket)) securechange.NewTicket {
		nt := sampleNewTicket()
		edit(&nt)
		return nt
	}
	cases := []struct {
		name string
		nt   securechange.NewTicket
		says []string
	}{
		{"no workflow", bad(func(nt *securechange.NewTicket) { nt.Workflow = " " }), []string{"create ticket", "workflow and the subject"}},
		{"no subject", bad(func(nt *securechange.NewTicket) { nt.Subject = "" }), []string{"create ticket", "must not be empty"}},
		{"bad source", bad(func(nt *securechange.NewTicket) { nt.AccessRequests[1].Sources = []string{"any", "10.0.0.300"} }),
			[]string{`"CHG0042: web to db"`, `field "Required Access"`, "access request 2", `source "10.0.0.300"`, "not an IP address"}},
		{"host bits", bad(func(nt *securechange.NewTicket) { nt.AccessRequests[0].Destinations = []string{"10.0.0.5/24"} }),
			[]string{"access request 1", `destination "10.0.0.5/24"`, "10.0.0.0/24"}},
		{"bad port", bad(func(nt *securechange.NewTicket) { nt.AccessRequests[0].Services = []string{"tcp 70000"} }),
			[]string{"access request 1", `service "tcp 70000"`, "0 to 65535"}},
		{"no services", bad(func(nt *securechange.NewTicket) { nt.AccessRequests[0].Services = nil }),
			[]string{"access request 1", "no services"}},
		{"bad action", bad(func(nt *securechange.NewTicket) { nt.AccessRequests[0].Action = "maybe" }),
			[]string{"access request 1", `action "maybe"`}},
	}
	for _, tc := range cases {
		_, err := cl.CreateTicket(t.Context(), tc.nt)
		wantPermanent(t, err, tc.says...)
	}
	if n := len(writes(sim)); n != 0 {
		t.Errorf("%d writes, want none", n)
	}

	// SecureChange refuses the ticket: 400 is permanent and quotes its answer.
	sim.FailNextWrites(1, http.StatusBadRequest, nil)
	_, err := cl.CreateTicket(t.Context(), sampleNewTicket())
	wantPermanent(t, err, `create ticket "CHG0042: web to db"`, `workflow "Access Request"`, "HTTP 400", "SIMULATED_FAILURE")
	checkNoSecret(t, err.Error())
	// 503 is transient, with its Retry-After.
	sim.FailNextWrites(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"3"}})
	_, err = cl.CreateTicket(t.Context(), sampleNewTicket())
	if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "create ticket") {
		t.Errorf("error %v", err)
	}
	if len(sim.Created()) != 0 {
		t.Errorf("created %v", sim.Created())
	}
}

// TestCreateTicketSimulatorRefuses: the simulator's 400s for a body that is not the
// SDK's shape reach the caller as permanent errors.
func TestCreateTicketSimulatorRefuses(t *testing.T) {
	t.Parallel()
	sim := securechangetest.New(t)
	for _, body := range []string{`{"subject":"x"}`, `{"ticket":{"subject":"x"}}`, `{"ticket":{"workflow":{"name":"W"}}}`,
		`{"ticket":{"subject":"x","workflow":{"name":"W"}}}`} {
		req, _ := http.NewRequest(http.MethodPost, sim.URL+"/tickets", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(securechangetest.DefaultUser, securechangetest.DefaultPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Result struct{ Code, Message string } `json:"result"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Result.Code == "" {
			t.Errorf("%s: %d %+v, want 400 with a result", body, resp.StatusCode, e)
		}
	}
}

// TestCreateTicketNoLocation: a 201 without a usable Location is permanent and says the
// ticket may exist.
func TestCreateTicketNoLocation(t *testing.T) {
	t.Parallel()
	for _, loc := range []string{"", "https://sc.example/securechangeworkflow/api/securechange/tickets/", "/tickets/abc", "/users/5"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if loc != "" {
				w.Header().Set("Location", loc)
			}
			w.WriteHeader(http.StatusCreated)
		}))
		t.Cleanup(srv.Close)
		c := securechangetest.New(t).Config()
		c.URL = srv.URL + securechangetest.APIPath
		_, err := newClient(t, c).CreateTicket(t.Context(), sampleNewTicket())
		wantPermanent(t, err, `"CHG0042: web to db"`, "no ticket id in Location", "may exist")
		if errors.Is(err, securechange.ErrAccess) {
			t.Errorf("ErrAccess: %v", err)
		}
	}
}
