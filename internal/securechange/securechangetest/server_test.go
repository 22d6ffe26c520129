package securechangetest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

// call makes one request with the default credentials and returns status and body.
func call(t *testing.T, s *securechangetest.Server, method, path, body string) (int, string) {
	t.Helper()
	return callAs(t, s, securechangetest.DefaultUser, securechangetest.DefaultPassword, method, path, body)
}

func callAs(t *testing.T, s *securechangetest.Server, user, pass, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// resultCode decodes SecureChange's {"result":{"code":…}} error body.
func resultCode(t *testing.T, body string) string {
	t.Helper()
	var r struct {
		Result struct{ Code, Message string } `json:"result"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Result.Code == "" || r.Result.Message == "" {
		t.Fatalf("not a SecureChange error body: %s", body)
	}
	return r.Result.Code
}

func TestFixtureGet(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t)
	s.Put(securechangetest.Fixture("7"))

	for _, p := range []string{"/tickets/7.json", "/tickets/7"} {
		code, body := call(t, s, http.MethodGet, p, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, code, body)
		}
		tk, err := securechange.DecodeTicket([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if tk.ID != "7" || tk.Workflow.Name != "Access Request" || tk.CurrentStep == nil || tk.CurrentStep.Name != "Business Approval" {
			t.Errorf("ticket %q workflow %q current %+v", tk.ID, tk.Workflow.Name, tk.CurrentStep)
		}
		// Only the steps reached so far, as SecureChange lists them.
		if len(tk.Steps) != 2 || tk.Steps[1].Name != "Business Approval" {
			t.Errorf("steps %+v", tk.Steps)
		}
		// The quirk: a single task is an object, a single selected option too.
		if !strings.Contains(body, `"task":{`) || !strings.Contains(body, `"selected_option":{"value":"EU"}`) {
			t.Errorf("single-element collections are not objects: %s", body)
		}
	}
	for field, want := range map[string]string{"ITSM Change": "", "Risk": "", "Emergency": "false", "Regions": "EU", "Approve Access": ""} {
		if v, ok := s.Ticket("7").Value(field); !ok || v != want {
			t.Errorf("%s = %q, %v; want %q", field, v, ok, want)
		}
	}
}

func TestAuthAndNotFound(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t)
	s.Put(securechangetest.Fixture("7"))

	code, body := callAs(t, s, securechangetest.DefaultUser, "wrong", http.MethodGet, "/tickets/7.json", "")
	if code != http.StatusUnauthorized || !strings.Contains(body, "401") {
		t.Errorf("bad password: %d %s", code, body)
	}
	code, body = call(t, s, http.MethodGet, "/tickets/8.json", "")
	if code != http.StatusNotFound || resultCode(t, body) == "" || !strings.Contains(body, "Ticket with ID 8 does not exist") {
		t.Errorf("unknown ticket: %d %s", code, body)
	}
	code, _ = call(t, s, http.MethodPut, "/tickets/8/reject", `{"reject_comment":{"comment":"x"}}`)
	if code != http.StatusNotFound {
		t.Errorf("reject unknown ticket: %d", code)
	}
	if n := len(s.Requests()); n != 3 {
		t.Errorf("%d requests recorded, want 3", n)
	}
}

func TestWorkflow(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t)
	s.Put(securechangetest.Fixture("7"))
	put := func(path, body string) {
		t.Helper()
		if code, resp := call(t, s, http.MethodPut, path, body); code != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, code, resp)
		}
	}

	put("/tickets/7/steps/2/tasks/21/fields/", `{"fields":{"field":[{"@xsi.type":"drop_down_list","id":213,"name":"Risk","selection":"High"},{"@xsi.type":"text_field","id":212,"name":"ITSM Change","text":"CHG1"}]}}`)
	put("/tickets/7/steps/current/tasks/21/fields/214", `{"field":{"@xsi.type":"checkbox","id":214,"name":"Emergency","value":true}}`)
	tk := s.Ticket("7")
	for field, want := range map[string]string{"Risk": "High", "ITSM Change": "CHG1", "Emergency": "true"} {
		if v, _ := tk.Value(field); v != want {
			t.Errorf("%s = %q, want %q", field, v, want)
		}
	}

	put("/tickets/7/steps/2/tasks/21", doneTask("21"))
	tk = s.Ticket("7")
	if tk.CurrentStep == nil || tk.CurrentStep.Name != "Implementation" || len(tk.Steps) != 3 || tk.Steps[1].Tasks[0].Status != "DONE" {
		t.Fatalf("after DONE: current %+v steps %+v", tk.CurrentStep, tk.Steps)
	}

	// Back to Business Approval: a new instance, with new ids and the values kept.
	put("/tickets/7/steps/3/tasks/31/redo/2", `{"redo_step_comment":{"comment":"wrong risk"}}`)
	tk = s.Ticket("7")
	if tk.CurrentStep == nil || tk.CurrentStep.Name != "Business Approval" || len(tk.Steps) != 4 || !tk.Steps[2].Redone {
		t.Fatalf("after redo: current %+v steps %+v", tk.CurrentStep, tk.Steps)
	}
	again := tk.Steps[3]
	if again.ID == "2" || again.Tasks[0].ID == "21" || again.Tasks[0].Status != "ASSIGNED" {
		t.Errorf("the redone step was not a new instance: %+v", again)
	}
	if v, _ := tk.Value("Risk"); v != "High" {
		t.Errorf("Risk = %q after redo", v)
	}
	if c := tk.Comments[len(tk.Comments)-1]; c.Content != "wrong risk" || c.Type != "redo" {
		t.Errorf("redo comment %+v", c)
	}

	// Done again: the next step is a new instance of Implementation; then the end.
	put("/tickets/7/steps/current/tasks/"+again.Tasks[0].ID, doneTask(again.Tasks[0].ID))
	tk = s.Ticket("7")
	if tk.CurrentStep == nil || tk.CurrentStep.Name != "Implementation" || tk.CurrentStep.ID == "3" {
		t.Fatalf("after the second DONE: current %+v", tk.CurrentStep)
	}
	put("/tickets/7/steps/current/tasks/"+tk.Steps[len(tk.Steps)-1].Tasks[0].ID, doneTask(tk.Steps[len(tk.Steps)-1].Tasks[0].ID))
	tk = s.Ticket("7")
	if tk.CurrentStep != nil || tk.Status != securechangetest.StatusClosed {
		t.Errorf("after the last step: current %+v status %q", tk.CurrentStep, tk.Status)
	}
	code, body := call(t, s, http.MethodPut, "/tickets/7/reject", `{"reject_comment":{"comment":"late"}}`)
	if code != http.StatusBadRequest || resultCode(t, body) == "" {
		t.Errorf("reject a closed ticket: %d %s", code, body)
	}
}

func TestReject(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t)
	s.Put(securechangetest.Fixture("9"))
	if code, body := call(t, s, http.MethodPut, "/tickets/9/reject", `{"reject_comment":{"comment":"no"}}`); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	tk := s.Ticket("9")
	if tk.Status != securechangetest.StatusRejected || tk.CurrentStep != nil {
		t.Errorf("status %q current %+v", tk.Status, tk.CurrentStep)
	}
	if c := tk.Comments[len(tk.Comments)-1]; c.Content != "no" || c.Type != "reject" {
		t.Errorf("comment %+v", c)
	}
}

func TestBadWrites(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t)
	s.Put(securechangetest.Fixture("7"))
	before := s.TicketJSON("7")
	cases := []struct{ name, path, body string }{
		{"unknown field id", "/tickets/7/steps/2/tasks/21/fields", `{"fields":{"field":[{"@xsi.type":"text_field","id":999,"name":"X","text":"a"}]}}`},
		{"one good, one unknown", "/tickets/7/steps/2/tasks/21/fields", `{"fields":{"field":[{"@xsi.type":"text_field","id":212,"name":"ITSM Change","text":"a"},{"id":999}]}}`},
		{"not an option", "/tickets/7/steps/2/tasks/21/fields", `{"fields":{"field":{"@xsi.type":"drop_down_list","id":213,"name":"Risk","selection":"Extreme"}}}`},
		{"not a selectable option", "/tickets/7/steps/2/tasks/21/fields", `{"fields":{"field":{"@xsi.type":"multiple_selection","id":215,"selected_options":{"selected_option":[{"value":"Mars"}]}}}}`},
		{"wrong type", "/tickets/7/steps/2/tasks/21/fields", `{"fields":{"field":{"@xsi.type":"checkbox","id":213,"value":true}}}`},
		{"checkbox not bool", "/tickets/7/steps/2/tasks/21/fields", `{"fields":{"field":{"@xsi.type":"checkbox","id":214,"value":"maybe"}}}`},
		{"not the current step", "/tickets/7/steps/1/tasks/11/fields", `{"fields":{"field":{"id":112,"text":"x"}}}`},
		{"done task", "/tickets/7/steps/current/tasks/11", doneTask("11")},
		{"task of another step", "/tickets/7/steps/2/tasks/31", doneTask("31")},
		{"status only (a strict server wants the whole task)", "/tickets/7/steps/2/tasks/21", `{"task":{"status":"DONE"}}`},
		{"task without fields", "/tickets/7/steps/2/tasks/21", `{"task":{"id":21,"name":"Business Approval","status":"DONE"}}`},
		{"fields without a field list", "/tickets/7/steps/2/tasks/21", `{"task":{"id":21,"status":"DONE","fields":{}}}`},
		{"another task's id", "/tickets/7/steps/2/tasks/21", doneTask("31")},
		{"another task's name", "/tickets/7/steps/2/tasks/21", `{"task":{"id":21,"name":"Other","status":"DONE","fields":{"field":[]}}}`},
		{"reject on behalf of a non-user", "/tickets/7/reject?handler_id=x", `{"reject_comment":{"comment":"x"}}`},
		{"redo forward", "/tickets/7/steps/2/tasks/21/redo/3", `{"redo_step_comment":{"comment":"x"}}`},
		{"redo without comment object", "/tickets/7/steps/2/tasks/21/redo/1", `{"comment":"x"}`},
		{"not JSON", "/tickets/7/steps/2/tasks/21", `<task><status>DONE</status></task>`},
	}
	for _, tc := range cases {
		code, body := call(t, s, http.MethodPut, tc.path, tc.body)
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tc.name, code, body)
			continue
		}
		resultCode(t, body)
	}
	if after := s.TicketJSON("7"); !bytes.Equal(before, after) {
		t.Errorf("a rejected write changed the ticket:\n%s\n%s", before, after)
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t)
	s.Put(securechangetest.Fixture("7"))
	s.FailNext(2, http.StatusServiceUnavailable, http.Header{"Retry-After": {"3"}})
	for range 2 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/tickets/7.json", nil)
		req.SetBasicAuth("sc-api", "sc-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" || resultCode(t, string(b)) != "SIMULATED_FAILURE" {
			t.Errorf("%d %v %s", resp.StatusCode, resp.Header, b)
		}
		if !strings.Contains(string(b), "Basic ") {
			t.Errorf("the failure body does not echo the Authorization header: %s", b)
		}
	}
	if code, _ := call(t, s, http.MethodGet, "/tickets/7.json", ""); code != http.StatusOK {
		t.Errorf("third request: %d", code)
	}

	s.FailNextWrites(1, http.StatusInternalServerError, nil)
	if code, _ := call(t, s, http.MethodGet, "/tickets/7.json", ""); code != http.StatusOK {
		t.Errorf("a GET failed with FailNextWrites: %d", code)
	}
	if code, _ := call(t, s, http.MethodPut, "/tickets/7/reject", `{"reject_comment":{"comment":"x"}}`); code != http.StatusInternalServerError {
		t.Errorf("the write: %d", code)
	}
	reqs := s.Requests()
	if len(reqs) != 5 || reqs[4].Method != http.MethodPut || !strings.Contains(string(reqs[4].Body), "reject_comment") || reqs[4].Time.IsZero() {
		t.Errorf("requests %+v", reqs)
	}
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t, securechangetest.WithTLS())
	c := s.Config()
	if !strings.HasPrefix(c.URL, "https://") || !strings.HasSuffix(c.URL, securechangetest.APIPath) || c.TLS.CAFile == "" || c.User != securechangetest.DefaultUser {
		t.Errorf("config %+v", c)
	}
	if p, err := c.PasswordRef().Resolve(); err != nil || p.Reveal() != securechangetest.DefaultPassword {
		t.Errorf("password: %v", err)
	}
}

// doneTask is the body that completes task id the way Tufin's SDKs send it: the whole
// task with status DONE and its fields (none here: the simulator keeps what it has).
func doneTask(id string) string {
	return `{"task":{"id":` + id + `,"status":"DONE","fields":{"field":[]}}}`
}

// TestUsers: GET users/{id} answers {"user":…} or {"group":…,"members":{"user":…}}, one
// member as an object, more as an array; an unknown id is a 404.
func TestUsers(t *testing.T) {
	t.Parallel()
	s := securechangetest.New(t)
	s.PutUser("45", "r.smith", "r.smith@example.com")
	s.PutUser("46", "b.jones", "")
	s.PutGroup("49", "Approvers", "45", "46")
	s.PutGroup("51", "Solo", "45")
	for path, want := range map[string]string{
		"/users/45.json": `{"user":{"@xsi.type":"user","display_name":"r.smith","email":"r.smith@example.com","id":45,"name":"r.smith"}}`,
		"/users/49": `{"group":{"@xsi.type":"group","email":"","id":49,"members":{"user":[` +
			`{"@xsi.type":"user","id":45,"link":{"@href":"` + s.URL + `/users/45"},"name":"r.smith"},` +
			`{"@xsi.type":"user","id":46,"link":{"@href":"` + s.URL + `/users/46"},"name":"b.jones"}]},"name":"Approvers"}}`,
		"/users/51.json": `{"group":{"@xsi.type":"group","email":"","id":51,"members":{"user":` +
			`{"@xsi.type":"user","id":45,"link":{"@href":"` + s.URL + `/users/45"},"name":"r.smith"}},"name":"Solo"}}`,
	} {
		code, body := call(t, s, http.MethodGet, path, "")
		if code != http.StatusOK || strings.TrimSpace(body) != want {
			t.Errorf("GET %s: %d %s\nwant %s", path, code, body, want)
		}
	}
	if code, body := call(t, s, http.MethodGet, "/users/99", ""); code != http.StatusNotFound {
		t.Errorf("GET /users/99: %d %s", code, body)
	}
}
