package securechange_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

const base = securechangetest.APIPath

// newSim starts a simulator holding Fixture(id) for each id, and a client for it.
func newSim(t *testing.T, ids ...string) (*securechangetest.Server, *securechange.Client) {
	t.Helper()
	sim := securechangetest.New(t)
	for _, id := range ids {
		sim.Put(securechangetest.Fixture(id))
	}
	return sim, newClient(t, sim.Config())
}

func newClient(t *testing.T, c config.SecureChange) *securechange.Client {
	t.Helper()
	cl, err := securechange.New(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// writes are the requests other than GET.
func writes(sim *securechangetest.Server) []securechangetest.Request {
	var out []securechangetest.Request
	for _, r := range sim.Requests() {
		if r.Method != http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// onlyWrite returns the single write request, checking its method, path and headers.
func onlyWrite(t *testing.T, sim *securechangetest.Server, path string) securechangetest.Request {
	t.Helper()
	ws := writes(sim)
	if len(ws) != 1 {
		t.Fatalf("%d write requests, want 1: %+v", len(ws), ws)
	}
	w := ws[0]
	if w.Method != http.MethodPut || w.Path != base+path {
		t.Errorf("%s %s, want PUT %s", w.Method, w.Path, base+path)
	}
	if ct, acc := w.Header.Get("Content-Type"), w.Header.Get("Accept"); ct != "application/json" || acc != "application/json" {
		t.Errorf("Content-Type %q, Accept %q", ct, acc)
	}
	if u, p, ok := (&http.Request{Header: w.Header}).BasicAuth(); !ok || u != securechangetest.DefaultUser || p != securechangetest.DefaultPassword {
		t.Errorf("basic auth %q %v", u, ok)
	}
	return w
}

// jsonEqual fails unless got and want are the same JSON value.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
}

// sentFields decodes a PUT …/fields body into the fields by name, checking the shape.
func sentFields(t *testing.T, body []byte) map[string]map[string]any {
	t.Helper()
	var b struct {
		Fields struct {
			Field []map[string]any `json:"field"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	out := map[string]map[string]any{}
	for _, f := range b.Fields.Field {
		name, _ := f["name"].(string)
		if f["@xsi.type"] == nil || f["id"] == nil || name == "" {
			t.Errorf("field without @xsi.type, id or name: %v", f)
		}
		out[name] = f
	}
	return out
}

func wantPermanent(t *testing.T, err error, says ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !failure.IsPermanent(err) {
		t.Errorf("not permanent: %v", err)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestUpdateFields(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	err := cl.UpdateFields(t.Context(), "7", map[string]string{
		"ITSM Change":    "CHG0042",
		"Risk":           "high", // written as the option is spelled
		"Emergency":      "yes",
		"Regions":        "US, apac",
		"Approve Access": "approve: within policy",
	})
	if err != nil {
		t.Fatal(err)
	}

	tk := sim.Ticket("7")
	for field, want := range map[string]string{"ITSM Change": "CHG0042", "Risk": "High", "Emergency": "true", "Regions": "US, APAC", "Approve Access": "true"} {
		if v, _ := tk.Value(field); v != want {
			t.Errorf("stored %s = %q, want %q", field, v, want)
		}
	}
	if f, _ := tk.Field("Approve Access"); f.Reason != "within policy" {
		t.Errorf("reason %q", f.Reason)
	}

	w := onlyWrite(t, sim, "/tickets/7/steps/2/tasks/21/fields")
	got := sentFields(t, w.Body)
	if len(got) != 5 {
		t.Fatalf("%d fields sent, want 5: %s", len(got), w.Body)
	}
	want := map[string]string{
		"ITSM Change":    `{"@xsi.type":"text_field","id":212,"name":"ITSM Change","text":"CHG0042"}`,
		"Risk":           `{"@xsi.type":"drop_down_list","id":213,"name":"Risk","options":{"option":[{"value":"Low"},{"value":"Medium"},{"value":"High"}]},"selection":"High"}`,
		"Emergency":      `{"@xsi.type":"checkbox","id":214,"name":"Emergency","value":true}`,
		"Regions":        `{"@xsi.type":"multiple_selection","id":215,"name":"Regions","options":{"option":[{"value":"EU"},{"value":"US"},{"value":"APAC"}]},"selected_options":{"selected_option":[{"value":"US"},{"value":"APAC"}]}}`,
		"Approve Access": `{"@xsi.type":"approve_reject","id":211,"name":"Approve Access","approved":true,"reason":"within policy"}`,
	}
	for name, f := range got {
		b, _ := json.Marshal(f)
		jsonEqual(t, b, want[name])
	}
	if reqs := sim.Requests(); len(reqs) != 2 || reqs[0].Method != http.MethodGet {
		t.Errorf("requests %+v: want one GET then one PUT", reqs)
	}
}

func TestUpdateFieldsTypes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		field, value string
		want         string // the field object sent, as JSON
		stored       string // Ticket.Value afterwards
	}{
		{"ITSM Change", `a "quoted" <value> & more`, `{"@xsi.type":"text_field","id":212,"name":"ITSM Change","text":"a \"quoted\" <value> & more"}`, `a "quoted" <value> & more`},
		{"ITSM Change", "", `{"@xsi.type":"text_field","id":212,"name":"ITSM Change","text":""}`, ""},
		{"Risk", "Medium", `{"@xsi.type":"drop_down_list","id":213,"name":"Risk","options":{"option":[{"value":"Low"},{"value":"Medium"},{"value":"High"}]},"selection":"Medium"}`, "Medium"},
		{"Emergency", "TRUE", `{"@xsi.type":"checkbox","id":214,"name":"Emergency","value":true}`, "true"},
		{"Emergency", "1", `{"@xsi.type":"checkbox","id":214,"name":"Emergency","value":true}`, "true"},
		{"Emergency", " no ", `{"@xsi.type":"checkbox","id":214,"name":"Emergency","value":false}`, "false"},
		{"Emergency", "0", `{"@xsi.type":"checkbox","id":214,"name":"Emergency","value":false}`, "false"},
		{"Regions", "EU", `{"@xsi.type":"multiple_selection","id":215,"name":"Regions","options":{"option":[{"value":"EU"},{"value":"US"},{"value":"APAC"}]},"selected_options":{"selected_option":[{"value":"EU"}]}}`, "EU"},
		{"Regions", "", `{"@xsi.type":"multiple_selection","id":215,"name":"Regions","options":{"option":[{"value":"EU"},{"value":"US"},{"value":"APAC"}]},"selected_options":{"selected_option":[]}}`, ""},
		{"Approve Access", "Reject: too broad", `{"@xsi.type":"approve_reject","id":211,"name":"Approve Access","approved":false,"reason":"too broad"}`, "false"},
		{"Approve Access", "approve", `{"@xsi.type":"approve_reject","id":211,"name":"Approve Access","approved":true,"reason":""}`, "true"},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			sim, cl := newSim(t, "7")
			if err := cl.UpdateFields(t.Context(), "7", map[string]string{tc.field: tc.value}); err != nil {
				t.Fatal(err)
			}
			w := onlyWrite(t, sim, "/tickets/7/steps/2/tasks/21/fields")
			b, _ := json.Marshal(sentFields(t, w.Body)[tc.field])
			jsonEqual(t, b, tc.want)
			if v, _ := sim.Ticket("7").Value(tc.field); v != tc.stored {
				t.Errorf("stored %q, want %q", v, tc.stored)
			}
		})
	}
}

// TestUpdateFieldsKeepsUnknownKeys: keys of the field object this client does not know
// are sent back as received.
func TestUpdateFieldsKeepsUnknownKeys(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t)
	fx := strings.Replace(string(securechangetest.Fixture("7")),
		`"id": 212, "name": "ITSM Change", "text": ""`,
		`"id": 212, "name": "ITSM Change", "text": "", "read_only": false, "x_custom": {"a": [1, 2]}`, 1)
	sim.Put(json.RawMessage(fx))
	if err := cl.UpdateFields(t.Context(), "7", map[string]string{"ITSM Change": "CHG1"}); err != nil {
		t.Fatal(err)
	}
	w := onlyWrite(t, sim, "/tickets/7/steps/2/tasks/21/fields")
	b, _ := json.Marshal(sentFields(t, w.Body)["ITSM Change"])
	jsonEqual(t, b, `{"@xsi.type":"text_field","id":212,"name":"ITSM Change","text":"CHG1","read_only":false,"x_custom":{"a":[1,2]}}`)
}

func TestUpdateFieldsErrors(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	many, err := os.ReadFile(filepath.Join("testdata", "securechange", "many_steps_many_fields.json"))
	if err != nil {
		t.Fatal(err)
	}
	sim.Put(many) // ticket 1234: its current task has a multi_group_change field
	cases := []struct {
		name   string
		ticket string
		values map[string]string
		says   []string
	}{
		{"unknown field", "7", map[string]string{"ITSM Change": "x", "Colour": "red"},
			[]string{"ticket 7", `no field "Colour"`, `"Approve Access" (approve_reject)`, `"ITSM Change" (text_field)`, `"Risk" (drop_down_list)`, `"Emergency" (checkbox)`, `"Regions" (multiple_selection)`}},
		{"field of an earlier step", "7", map[string]string{"Business Justification": "x"}, []string{`no field "Business Justification"`}},
		{"not an option", "7", map[string]string{"Risk": "Extreme"}, []string{`field "Risk"`, `"Extreme"`, `"Low", "Medium", "High"`}},
		{"not a selectable option", "7", map[string]string{"Regions": "EU, Mars"}, []string{`field "Regions"`, `"Mars"`, `"EU", "US", "APAC"`}},
		{"checkbox", "7", map[string]string{"Emergency": "maybe"}, []string{`field "Emergency"`, `"maybe"`}},
		{"approve_reject", "7", map[string]string{"Approve Access": "perhaps: fine"}, []string{`field "Approve Access"`, "approve[: reason]"}},
		{"unwritable type", "1234", map[string]string{"Group Change": "x"}, []string{`field "Group Change" has type multi_group_change which cannot be written`}},
		{"nothing", "7", nil, []string{"no fields"}},
		{"bad ticket id", "7x", map[string]string{"Risk": "Low"}, []string{`"7x"`}},
	}
	for _, tc := range cases {
		err := cl.UpdateFields(t.Context(), tc.ticket, tc.values)
		t.Run(tc.name, func(t *testing.T) { wantPermanent(t, err, tc.says...) })
	}
	if ws := writes(sim); len(ws) != 0 {
		t.Errorf("%d writes made for invalid updates: %+v", len(ws), ws)
	}
}

func TestApproveReject(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7", "8")
	if err := cl.ApproveReject(t.Context(), "7", true, "ok by policy"); err != nil {
		t.Fatal(err)
	}
	w := onlyWrite(t, sim, "/tickets/7/steps/2/tasks/21/fields")
	jsonEqual(t, w.Body, `{"fields":{"field":[{"@xsi.type":"approve_reject","id":211,"name":"Approve Access","approved":true,"reason":"ok by policy"}]}}`)
	if f, _ := sim.Ticket("7").Field("Approve Access"); f.Approved == nil || !*f.Approved || f.Reason != "ok by policy" {
		t.Errorf("stored %+v", f)
	}

	if err := cl.ApproveReject(t.Context(), "8", false, "too broad"); err != nil {
		t.Fatal(err)
	}
	if f, _ := sim.Ticket("8").Field("Approve Access"); f.Approved == nil || *f.Approved || f.Reason != "too broad" {
		t.Errorf("stored %+v", f)
	}

	// A task without an approve_reject field.
	one, err := os.ReadFile(filepath.Join("testdata", "securechange", "one_step_one_field.json"))
	if err != nil {
		t.Fatal(err)
	}
	sim.Put(one)
	err = cl.ApproveReject(t.Context(), "1", true, "x")
	wantPermanent(t, err, "ticket 1", "approve", "no approve_reject field", `"Business Justification" (text_field)`)
	if n := len(writes(sim)); n != 2 {
		t.Errorf("%d writes, want 2", n)
	}
}

func TestAdvance(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	if err := cl.Advance(t.Context(), "7"); err != nil {
		t.Fatal(err)
	}
	w := onlyWrite(t, sim, "/tickets/7/steps/2/tasks/21")
	body := string(w.Body) // the whole body: TestWriteGolden's advance.golden.json
	if !strings.HasPrefix(body, `{"task":{"id":21,"name":"Business Approval","status":"DONE","fields":{"field":[{"@xsi.type":"approve_reject","id":211,`) {
		t.Errorf("body %s", body)
	}
	tk := sim.Ticket("7")
	if tk.CurrentStep == nil || tk.CurrentStep.Name != "Implementation" {
		t.Fatalf("current step %+v, want Implementation", tk.CurrentStep)
	}

	// Again: it completes whatever task is current, here the last one: the ticket closes.
	if err := cl.Advance(t.Context(), "7"); err != nil {
		t.Fatal(err)
	}
	if tk := sim.Ticket("7"); tk.CurrentStep != nil || tk.Status != securechangetest.StatusClosed {
		t.Fatalf("after the second advance: current %+v, status %q", tk.CurrentStep, tk.Status)
	}
	// On the closed ticket: success without a request.
	for range 2 {
		if err := cl.Advance(t.Context(), "7"); err != nil {
			t.Errorf("advance a closed ticket: %v", err)
		}
	}
	if n := len(writes(sim)); n != 2 {
		t.Errorf("%d writes, want 2", n)
	}
}

// TestAdvanceStepIdempotent: a redelivered AdvanceStep does not advance twice.
func TestAdvanceStepIdempotent(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	for range 3 {
		if err := cl.AdvanceStep(t.Context(), "7", "Business Approval"); err != nil {
			t.Fatal(err)
		}
	}
	onlyWrite(t, sim, "/tickets/7/steps/2/tasks/21")
	if tk := sim.Ticket("7"); tk.CurrentStep == nil || tk.CurrentStep.Name != "Implementation" {
		t.Errorf("current step %+v, want Implementation", tk.CurrentStep)
	}
	wantPermanent(t, cl.AdvanceStep(t.Context(), "7", ""), "no step name")
}

// TestAdvanceTaskDoneAlready: the current task is DONE (SecureChange has not moved on
// yet, or a parallel task is open): nothing to do, or nothing to choose.
func TestAdvanceTaskDoneAlready(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t)
	fx := string(securechangetest.Fixture("7"))
	sim.Put(json.RawMessage(strings.Replace(fx, `"assignee": "b.owner", "status": "ASSIGNED"`, `"assignee": "b.owner", "status": "DONE"`, 1)))
	if err := cl.Advance(t.Context(), "7"); err != nil {
		t.Fatal(err)
	}
	if n := len(writes(sim)); n != 0 {
		t.Errorf("%d writes, want none", n)
	}

	// Two open tasks (parallel handlers).
	two := strings.Replace(fx, `"tasks": {"task": {"id": 21, "name": "Business Approval", "assignee_id": 50, "assignee": "b.owner", "status": "ASSIGNED",`,
		`"tasks": {"task": [{"id": 22, "name": "Security Approval", "assignee_id": 51, "assignee": "s.officer", "status": "ASSIGNED"}, {"id": 21, "name": "Business Approval", "assignee_id": 50, "assignee": "b.owner", "status": "ASSIGNED",`, 1)
	two = strings.Replace(two, `"selected_options": {"selected_option": {"value": "EU"}}}]}}}},`, `"selected_options": {"selected_option": {"value": "EU"}}}]}}]}},`, 1)
	sim.Put(json.RawMessage(strings.Replace(two, `"id": 7,`, `"id": 8,`, 1)))
	wantPermanent(t, cl.Advance(t.Context(), "8"), "ticket 8", "2 open tasks", "s.officer", "b.owner")
	// UpdateFields still finds the one open task that has the fields.
	if err := cl.UpdateFields(t.Context(), "8", map[string]string{"Risk": "Low"}); err != nil {
		t.Fatal(err)
	}
	onlyWrite(t, sim, "/tickets/8/steps/2/tasks/21/fields")
}

func TestRedo(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	if err := cl.Advance(t.Context(), "7"); err != nil { // to Implementation
		t.Fatal(err)
	}
	err := cl.Redo(t.Context(), "7", "Nowhere", "x")
	wantPermanent(t, err, "ticket 7", `redo to "Nowhere"`, `"Submit Request", "Business Approval"`, `current: "Implementation"`)

	if err := cl.Redo(t.Context(), "7", "Business Approval", "wrong risk rating"); err != nil {
		t.Fatal(err)
	}
	ws := writes(sim)
	if len(ws) != 2 || ws[1].Path != base+"/tickets/7/steps/3/tasks/31/redo/2" {
		t.Fatalf("writes %+v", ws)
	}
	jsonEqual(t, ws[1].Body, `{"redo_step_comment":{"comment":"wrong risk rating"}}`)
	tk := sim.Ticket("7")
	if tk.CurrentStep == nil || tk.CurrentStep.Name != "Business Approval" {
		t.Fatalf("current step %+v", tk.CurrentStep)
	}

	// Redelivered: the ticket is at the step already.
	if err := cl.Redo(t.Context(), "7", "Business Approval", "wrong risk rating"); err != nil {
		t.Fatal(err)
	}
	if n := len(writes(sim)); n != 2 {
		t.Errorf("%d writes, want 2", n)
	}
	// The new instance of the step is written to, by its new ids.
	if err := cl.UpdateFields(t.Context(), "7", map[string]string{"Risk": "Low"}); err != nil {
		t.Fatal(err)
	}
	cur := sim.Ticket("7").Steps[len(sim.Ticket("7").Steps)-1]
	if ws := writes(sim); ws[2].Path != base+"/tickets/7/steps/"+cur.ID+"/tasks/"+cur.Tasks[0].ID+"/fields" {
		t.Errorf("write to %s", ws[2].Path)
	}

	// A closed ticket.
	sim.Put(json.RawMessage(strings.Replace(string(securechangetest.Fixture("9")), `"current_step": {"id": 2, "name": "Business Approval"},`, ``, 1)))
	wantPermanent(t, cl.Redo(t.Context(), "9", "Submit Request", "x"), "ticket 9", "closed")
}

func TestRejectTicket(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7", "8")
	if err := cl.RejectTicket(t.Context(), "7", "not compliant"); err != nil {
		t.Fatal(err)
	}
	w := onlyWrite(t, sim, "/tickets/7/reject")
	jsonEqual(t, w.Body, `{"reject_comment":{"comment":"not compliant"}}`)
	if tk := sim.Ticket("7"); tk.Status != securechangetest.StatusRejected || tk.CurrentStep != nil {
		t.Errorf("status %q, current %+v", tk.Status, tk.CurrentStep)
	}
	// Redelivered: rejected already.
	if err := cl.RejectTicket(t.Context(), "7", "not compliant"); err != nil {
		t.Fatal(err)
	}
	if n := len(writes(sim)); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
	// Closed otherwise.
	for range 2 {
		if err := cl.Advance(t.Context(), "8"); err != nil {
			t.Fatal(err)
		}
	}
	wantPermanent(t, cl.RejectTicket(t.Context(), "8", "x"), "ticket 8", "closed", `"Ticket Closed"`)
}

func TestWriteErrorClassification(t *testing.T) {
	t.Parallel()
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		status     int
		header     http.Header
		permanent  bool
		access     bool
		retryAfter time.Duration // -1: none attached; else at least this, at most 10m
		says       string
	}{
		{"503 with Retry-After", 503, http.Header{"Retry-After": {"7"}}, false, false, 7 * time.Second, "HTTP 503 Service Unavailable"},
		{"429 with a long Retry-After", 429, http.Header{"Retry-After": {"86400"}}, false, false, 10 * time.Minute, "HTTP 429"},
		{"503 with a date", 503, http.Header{"Retry-After": {date}}, false, false, 60 * time.Second, "HTTP 503"},
		{"500", 500, nil, false, false, -1, "HTTP 500"},
		{"502", 502, nil, false, false, -1, "HTTP 502"},
		{"408", 408, nil, false, false, -1, "HTTP 408"},
		{"404", 404, nil, true, false, -1, "HTTP 404"},
		{"400", 400, nil, true, false, -1, "HTTP 400 Bad Request"},
		{"409", 409, nil, true, false, -1, "HTTP 409"},
		{"401", 401, nil, false, true, -1, "securechange.password_file"},
		{"403", 403, nil, false, true, -1, "HTTP 403"},
		{"redirect", 302, http.Header{"Location": {"https://elsewhere.invalid/login"}}, false, false, -1, "securechange.url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, cl := newSim(t, "7")
			sim.FailNextWrites(1, tc.status, tc.header)
			err := cl.UpdateFields(t.Context(), "7", map[string]string{"ITSM Change": "CHG1"})
			if err == nil {
				t.Fatal("no error")
			}
			if failure.IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", !tc.permanent, tc.permanent, err)
			}
			if errors.Is(err, securechange.ErrAccess) != tc.access {
				t.Errorf("errors.Is(ErrAccess) = %v, want %v: %v", !tc.access, tc.access, err)
			}
			d, ok := failure.RetryAfter(err)
			switch {
			case tc.retryAfter < 0 && ok:
				t.Errorf("RetryAfter %s attached", d)
			case tc.retryAfter >= 0 && (!ok || d < tc.retryAfter*8/10 || d > 10*time.Minute):
				t.Errorf("RetryAfter = %s, %v; want about %s", d, ok, tc.retryAfter)
			}
			for _, s := range []string{"ticket 7", "update fields", tc.says} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			checkNoSecret(t, err.Error())
			if n := len(writes(sim)); n != 1 {
				t.Errorf("%d writes, want 1 (no retry inside the call)", n)
			}
		})
	}
}

// TestWriteErrorsEveryOperation: each operation classifies its write's failure alike
// and names itself.
func TestWriteErrorsEveryOperation(t *testing.T) {
	t.Parallel()
	ops := map[string]func(*securechange.Client, *testing.T) error{
		"approve": func(c *securechange.Client, t *testing.T) error { return c.ApproveReject(t.Context(), "7", true, "ok") },
		"advance": func(c *securechange.Client, t *testing.T) error { return c.Advance(t.Context(), "7") },
		"redo to": func(c *securechange.Client, t *testing.T) error {
			return c.Redo(t.Context(), "7", "Submit Request", "again")
		},
		"reject ticket": func(c *securechange.Client, t *testing.T) error { return c.RejectTicket(t.Context(), "7", "no") },
		"add comment":   func(c *securechange.Client, t *testing.T) error { return c.AddComment(t.Context(), "7", "hello") },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim, cl := newSim(t, "7")
			sim.FailNextWrites(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"2"}})
			err := op(cl, t)
			if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "ticket 7") {
				t.Errorf("error %v", err)
			}
			if d, ok := failure.RetryAfter(err); !ok || d != 2*time.Second {
				t.Errorf("RetryAfter %s %v", d, ok)
			}
			checkNoSecret(t, err.Error())

			sim.FailNextWrites(1, http.StatusNotFound, nil)
			wantPermanent(t, op(cl, t), name, "404")
		})
	}
}

// checkNoSecret fails when s holds the simulator's password or its basic-auth value.
func checkNoSecret(t *testing.T, s string) {
	t.Helper()
	basic := base64.StdEncoding.EncodeToString([]byte(securechangetest.DefaultUser + ":" + securechangetest.DefaultPassword))
	for _, sec := range []string{securechangetest.DefaultPassword, basic, "wr0ng-Passw0rd"} {
		if strings.Contains(s, sec) {
			t.Errorf("leaks a secret (%q): %s", sec, s)
		}
	}
}

func TestWriteWrongPassword(t *testing.T) {
	t.Parallel()
	sim, _ := newSim(t, "7")
	c := sim.Config()
	c.PasswordFile = filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(c.PasswordFile, []byte("wr0ng-Passw0rd"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c)
	err := cl.Advance(t.Context(), "7")
	if !errors.Is(err, securechange.ErrAccess) || failure.IsPermanent(err) || !strings.Contains(err.Error(), "advance") {
		t.Errorf("error %v", err)
	}
	checkNoSecret(t, err.Error())
}

// TestWriteTransportErrors: the connection drops or the answer does not come in time:
// transient, one request.
func TestWriteTransportErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		put  func(w http.ResponseWriter, r *http.Request)
		says string
	}{
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, "EOF"},
		{"no answer", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "no response within 300ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			puts := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					_, _ = w.Write(securechangetest.Fixture("7"))
					return
				}
				mu.Lock()
				puts++
				mu.Unlock()
				_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client hanging up
				tc.put(w, r)
			}))
			t.Cleanup(srv.Close)
			sim := securechangetest.New(t) // for its Config
			c := sim.Config()
			c.URL = srv.URL + base
			c.Timeout = 300 * time.Millisecond
			cl := newClient(t, c)
			err := cl.RejectTicket(t.Context(), "7", "x")
			if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "ticket 7: reject ticket") || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if puts != 1 {
				t.Errorf("%d PUTs, want 1", puts)
			}
		})
	}
}

// TestReadFailureBeforeWrite: the GET's own classification reaches the caller, named
// with the operation, and nothing is written.
func TestReadFailureBeforeWrite(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	wantPermanent(t, cl.Advance(t.Context(), "77"), "advance", "ticket 77 not found")
	sim.FailNext(3, http.StatusServiceUnavailable, nil) // the GET and its 2 retries
	err := cl.Advance(t.Context(), "7")
	if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "advance") {
		t.Errorf("error %v", err)
	}
	checkNoSecret(t, err.Error())
	if n := len(writes(sim)); n != 0 {
		t.Errorf("%d writes", n)
	}
}

func TestWriteTLS(t *testing.T) {
	t.Parallel()
	sim := securechangetest.New(t, securechangetest.WithTLS())
	sim.Put(securechangetest.Fixture("7"))
	cl := newClient(t, sim.Config()) // with the simulator's CA
	if err := cl.UpdateFields(t.Context(), "7", map[string]string{"ITSM Change": "CHG7"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := sim.Ticket("7").Value("ITSM Change"); v != "CHG7" {
		t.Errorf("stored %q", v)
	}

	c := sim.Config()
	c.TLS.CAFile = ""
	err := newClient(t, c).Advance(t.Context(), "7")
	if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "securechange.tls.ca_file") {
		t.Errorf("without the CA: %v", err)
	}
}

func TestWriteConcurrent(t *testing.T) {
	t.Parallel()
	ids := []string{"1", "2", "3", "4", "5", "6"}
	sim, cl := newSim(t, ids...)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if err := cl.UpdateFields(t.Context(), id, map[string]string{"ITSM Change": "CHG" + id}); err != nil {
				t.Errorf("ticket %s: %v", id, err)
			}
			if err := cl.Advance(t.Context(), id); err != nil {
				t.Errorf("ticket %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		tk := sim.Ticket(id)
		if v, _ := tk.Value("ITSM Change"); tk.CurrentStep == nil || tk.CurrentStep.Name != "Implementation" {
			t.Errorf("ticket %s: current %+v", id, tk.CurrentStep)
		} else if st, _ := tk.StepByName("Business Approval"); st.Tasks[0].Fields[1].Text != "CHG"+id {
			t.Errorf("ticket %s: ITSM Change %q (latest step's value %q)", id, st.Tasks[0].Fields[1].Text, v)
		}
	}
}

// TestAdvanceLeavesReadOnlyFieldsOut: the task advance sends back holds every field as
// read but the read-only ones (pytos Step_Task.remove_read_only_fields); the simulator
// refuses a task body that writes a read-only field.
func TestAdvanceLeavesReadOnlyFieldsOut(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t)
	sim.Put(json.RawMessage(strings.Replace(string(securechangetest.Fixture("7")),
		`"id": 212, "name": "ITSM Change", "text": ""`, `"id": 212, "name": "ITSM Change", "text": "", "read_only": true`, 1)))
	if err := cl.Advance(t.Context(), "7"); err != nil {
		t.Fatal(err)
	}
	body := string(onlyWrite(t, sim, "/tickets/7/steps/2/tasks/21").Body)
	if strings.Contains(body, `"id":212`) || !strings.Contains(body, `"id":211`) {
		t.Errorf("advance sent %s, want field 211 and not the read-only 212", body)
	}
}
