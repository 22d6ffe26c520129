package rewrite

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/rewrite/kvgroup"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

const testTriggerID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

// pluginCmd is the argv of a plugin of testdata/plugins.
func pluginCmd(t *testing.T, name string, args ...string) []string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "plugins", name))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s is not executable (mode %v): chmod 0755 it", p, fi.Mode().Perm())
	}
	return append([]string{p}, args...)
}

// newTestRewriter is New on plugins as config.Load leaves them: validated, with their
// defaults.
func newTestRewriter(t *testing.T, plugins ...config.Plugin) *Rewriter {
	t.Helper()
	c := config.Default()
	c.Dispatcher.Plugins = plugins
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("test plugins: %v", err)
	}
	return New(c.Dispatcher.Plugins, nil)
}

func opID(route, action string) string { return events.OperationID(testTriggerID, route, action) }

// testInput is a trigger, its enriched ticket and a plan of three operations: a
// mandatory ITSM call, an email and a SecureChange write-back marked drop=true.
func testInput() Input {
	yes := true
	trig := events.TriggerEvent{
		ID: testTriggerID, Event: events.Advance, Args: "--stage review", Script: "/opt/scw/mediator.sh",
		Ticket: events.TicketInfo{
			ID: "42", Subject: "Open 443 to the web farm", UpdateDate: "1718000000000",
			CurrentStage: &events.Stage{ID: "9", Name: "Review"},
		},
	}
	ticket := &securechange.Ticket{
		ID: "42", Subject: "Open 443 to the web farm", Requester: "a.jones", RequesterID: "17",
		Priority: "High", Status: "In Progress", Domain: "Default",
		Workflow:    securechange.Workflow{ID: "3", Name: "Firewall change"},
		CurrentStep: &securechange.StepRef{ID: "9", Name: "Review"},
		Steps: []securechange.Step{
			{Name: "Submit", Tasks: []securechange.Task{{Fields: []securechange.Field{{Name: "Justification", Type: "text_area", Text: "old"}}}}},
			{Name: "Review", Tasks: []securechange.Task{{Fields: []securechange.Field{
				{Name: "Justification", Type: "text_area", Text: "web app launch"},
				{Name: "Urgent", Type: "checkbox", Checked: &yes},
				{Name: "Justification", Type: "text_area", Text: "shadowed"},
			}}}},
		},
	}
	ops := []events.Operation{
		{ID: opID("change-mgmt", "open-change"), Kind: events.OpITSM, Target: "servicenow", Route: "change-mgmt", Action: "open-change",
			Mandatory: true, Spec: json.RawMessage(`{"method": "POST", "path": "/api/now/table/change_request"}`)},
		{ID: opID("change-mgmt", "notify-requester"), Kind: events.OpEmail, Target: "smtp", Route: "change-mgmt", Action: "notify-requester",
			Attrs: map[string]string{"lang": "en"}},
		{ID: opID("auto-approve", "approve"), Kind: events.OpSecureChange, Target: "securechange", Route: "auto-approve", Action: "approve",
			Attrs: map[string]string{"drop": "true"}},
	}
	plan := events.Plan{
		ID: events.PlanID(testTriggerID), TriggerID: testTriggerID, Ticket: "42", Event: events.Advance,
		Workflow: "Firewall change", Status: events.PlanPlanned, Routes: []string{"change-mgmt", "auto-approve"},
		Operations: ops, Enriched: true,
	}
	stampOperations(&plan)
	return Input{Trigger: trig, Ticket: ticket, Plan: plan, FirstRun: true}
}

func actionsOf(p events.Plan) []string {
	var out []string
	for _, op := range p.Operations {
		out = append(out, op.Action)
	}
	return out
}

func opByAction(t *testing.T, p events.Plan, action string) events.Operation {
	t.Helper()
	for _, op := range p.Operations {
		if op.Action == action {
			return op
		}
	}
	t.Fatalf("no operation %q in plan: %v", action, actionsOf(p))
	return events.Operation{}
}

func wantActions(t *testing.T, p events.Plan, want ...string) {
	t.Helper()
	if got := actionsOf(p); !slices.Equal(got, want) {
		t.Fatalf("operations = %v, want %v", got, want)
	}
}

func wantInfo(t *testing.T, p events.Plan, want ...string) {
	t.Helper()
	if !slices.Equal(p.Info, want) {
		t.Fatalf("info =\n  %q\nwant\n  %q", p.Info, want)
	}
}

func wantStamped(t *testing.T, p events.Plan) {
	t.Helper()
	for _, op := range p.Operations {
		if op.TriggerID != testTriggerID || op.Ticket != "42" || op.Event != events.Advance {
			t.Errorf("operation %s (%s) has trigger %q ticket %q event %q, want the plan's", op.ID, op.Action, op.TriggerID, op.Ticket, op.Event)
		}
	}
}

func rewrite(t *testing.T, r *Rewriter, in Input) events.Plan {
	t.Helper()
	got, err := r.Rewrite(context.Background(), in)
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}
	wantStamped(t, got)
	return got
}

// TestRewriteKVGroupInput: every key of the KVGroup input, as one plugin sees it on a
// first delivery, a later one and without enrichment. Long: one check per key of the input.
func TestRewriteKVGroupInput(t *testing.T) {
	capture := filepath.Join(t.TempDir(), "input.kvg")
	r := newTestRewriter(t, config.Plugin{Name: "capture", Command: pluginCmd(t, "kv_capture.sh", capture)})
	in := testInput()
	got := rewrite(t, r, in)
	if !operationsEqual(got.Operations, in.Plan.Operations) || len(got.Info) != 0 {
		t.Fatalf("changed=false plugin changed the plan: %+v", got)
	}

	b, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "# KVGROUP-V1.1\n") {
		t.Errorf("input does not start with the header:\n%s", b)
	}
	doc, err := kvgroup.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	top := doc.Root.Sub("")
	get := func(g *kvgroup.Group, key, want string) {
		t.Helper()
		if v, ok := g.Get(key); !ok || v != want {
			t.Errorf("%s = %q (present %v), want %q", key, v, ok, want)
		}
	}
	get(top, "module", "triggerflow")
	get(top, "plugin", "capture")
	get(top, "firstrun", "true")
	get(top, "run", "1")
	trig := top.Sub("trigger")
	get(trig, "trigger_id", testTriggerID)
	get(trig, "event", "ADVANCE")
	get(trig, "ticket", "42")
	get(trig, "subject", "Open 443 to the web farm")
	get(trig, "args", "--stage review")
	get(trig, "script", "/opt/scw/mediator.sh")
	get(trig.Sub("current_stage"), "name", "Review")
	if trig.Sub("completion_stage") != nil {
		t.Error("absent completion_stage was sent")
	}
	ticket := top.Sub("ticket")
	get(ticket, "enriched", "true")
	get(ticket, "id", "42")
	get(ticket, "workflow", "Firewall change")
	get(ticket, "requester", "a.jones")
	get(ticket, "current_step", "Review")
	fields := ticket.Sub("fields")
	get(fields, "Justification", "web app launch")
	get(fields, "Urgent", "true")
	if n := len(fields.All("Justification")); n != 1 {
		t.Errorf("Justification sent %d times, want once (the first of the latest step)", n)
	}
	request := top.Sub("request")
	get(request, "id", events.PlanID(testTriggerID))
	res := request.All("resource")
	if len(res) != 3 {
		t.Fatalf("%d resources, want 3", len(res))
	}
	first := res[0]
	if first.Name != opID("change-mgmt", "open-change") {
		t.Errorf("resource name %q, want the operation id", first.Name)
	}
	get(first.Group, "kind", "itsm")
	get(first.Group, "target", "servicenow")
	get(first.Group, "route", "change-mgmt")
	get(first.Group, "action", "open-change")
	get(first.Group, "mandatory", "true")
	get(first.Group, "group", "")
	get(first.Group, "spec", `{"method":"POST","path":"/api/now/table/change_request"}`)
	get(res[1].Group.Sub("attr"), "lang", "en")

	// A delivery after the first: firstrun false.
	in.FirstRun = false
	rewrite(t, r, in)
	b, _ = os.ReadFile(capture)
	doc, _ = kvgroup.Parse(b)
	get(doc.Root.Sub(""), "firstrun", "false")

	// Without enrichment, the ticket group carries what the trigger has.
	in.Ticket = nil
	rewrite(t, r, in)
	b, _ = os.ReadFile(capture)
	doc, _ = kvgroup.Parse(b)
	ticket = doc.Root.Sub("").Sub("ticket")
	get(ticket, "enriched", "false")
	get(ticket, "id", "42")
	get(ticket, "subject", "Open 443 to the web farm")
}

func TestRewriteJSONInput(t *testing.T) {
	capture := filepath.Join(t.TempDir(), "input.json")
	r := newTestRewriter(t, config.Plugin{Name: "capture", Command: pluginCmd(t, "json_capture.sh", capture), Format: "json"})
	in := testInput()
	got := rewrite(t, r, in)
	if !operationsEqual(got.Operations, in.Plan.Operations) {
		t.Fatal("changed=false plugin changed the plan")
	}
	b, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	var input jsonInput
	if err := json.Unmarshal(b, &input); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if input.Module != "triggerflow" || input.Plugin != "capture" || !input.FirstRun || input.Run != 1 {
		t.Errorf("header = %+v", input)
	}
	if input.Trigger["trigger_id"] != testTriggerID || input.Trigger["event"] != "ADVANCE" {
		t.Errorf("trigger = %v", input.Trigger)
	}
	if st, _ := input.Trigger["current_stage"].(map[string]any); st["name"] != "Review" {
		t.Errorf("trigger.current_stage = %v", input.Trigger["current_stage"])
	}
	if input.Ticket["enriched"] != true || input.Ticket["workflow"] != "Firewall change" {
		t.Errorf("ticket = %v", input.Ticket)
	}
	if f, _ := input.Ticket["fields"].(map[string]any); f["Justification"] != "web app launch" || f["Urgent"] != "true" {
		t.Errorf("ticket.fields = %v", input.Ticket["fields"])
	}
	if len(input.Request.Resources) != 3 {
		t.Fatalf("resources = %+v", input.Request.Resources)
	}
	r0 := input.Request.Resources[0]
	if r0.ID != opID("change-mgmt", "open-change") || r0.Kind != "itsm" || !r0.Mandatory || r0.Route != "change-mgmt" {
		t.Errorf("resource 0 = %+v", r0)
	}
	var spec map[string]string
	if err := json.Unmarshal(r0.Spec, &spec); err != nil || spec["method"] != "POST" {
		t.Errorf("resource 0 spec = %s (%v), want the operation's spec as an object", r0.Spec, err)
	}
	if input.Request.Resources[2].Attrs["drop"] != "true" {
		t.Errorf("resource 2 attrs = %v", input.Request.Resources[2].Attrs)
	}
}

func TestRewriteAddResource(t *testing.T) {
	r := newTestRewriter(t, config.Plugin{Name: "cab", Command: pluginCmd(t, "kv_add.sh")})
	in := testInput()
	got := rewrite(t, r, in)
	wantActions(t, got, "open-change", "notify-requester", "approve", "notify-cab")
	wantActions(t, in.Plan, "open-change", "notify-requester", "approve") // the input is not modified
	op := opByAction(t, got, "notify-cab")
	if op.ID != opID("plugin:cab", "notify-cab") {
		t.Errorf("id %q, want OperationID(trigger, plugin:cab, notify-cab)", op.ID)
	}
	if op.Kind != events.OpEmail || op.Target != "smtp" || op.Route != "plugin:cab" || op.Mandatory || op.Group != "" {
		t.Errorf("added operation = %+v", op)
	}
	if string(op.Spec) != `{"to":["cab@example.com"],"subject":"Ticket needs CAB"}` {
		t.Errorf("spec = %s", op.Spec)
	}
	if op.Attrs["reason"] != "firewall change" || op.Attrs["autoselect"] != "true" || len(op.Attrs) != 2 {
		t.Errorf("attrs = %v", op.Attrs)
	}
	wantInfo(t, got, `plugin "cab": added the CAB notification`)
}

func TestRewriteRemoveResource(t *testing.T) {
	r := newTestRewriter(t, config.Plugin{Name: "rm", Command: pluginCmd(t, "kv_remove.sh", "notify-requester")})
	got := rewrite(t, r, testInput())
	wantActions(t, got, "open-change", "approve")
	wantInfo(t, got)
}

func TestRewriteRetainResources(t *testing.T) {
	open := opID("change-mgmt", "open-change")
	note := `plugin "keep" tried to remove mandatory operation ` + open +
		` (route "change-mgmt", action "open-change") by not returning it (retainResources false); kept`
	for _, tc := range []struct {
		retain   string
		want     []string
		wantInfo []string
	}{
		{"true", []string{"open-change", "notify-requester", "approve"}, nil},
		{"false", []string{"open-change", "notify-requester"}, []string{note}},
		{"absent", []string{"open-change", "notify-requester"}, []string{note}},
	} {
		t.Run(tc.retain, func(t *testing.T) {
			r := newTestRewriter(t, config.Plugin{Name: "keep", Command: pluginCmd(t, "kv_keep.sh", tc.retain, "notify-requester")})
			got := rewrite(t, r, testInput())
			wantActions(t, got, tc.want...)
			wantInfo(t, got, tc.wantInfo...)
			// The returned resource carried no fields: it is kept as it was.
			if op := opByAction(t, got, "notify-requester"); op.Attrs["lang"] != "en" || op.Target != "smtp" {
				t.Errorf("returned resource changed: %+v", op)
			}
		})
	}
}

func TestRewriteMandatoryKept(t *testing.T) {
	open := opID("change-mgmt", "open-change")
	t.Run("remove", func(t *testing.T) {
		r := newTestRewriter(t, config.Plugin{Name: "rm", Command: pluginCmd(t, "kv_remove.sh", "open-change", "approve")})
		got := rewrite(t, r, testInput())
		wantActions(t, got, "open-change", "notify-requester")
		wantInfo(t, got, `plugin "rm" tried to remove mandatory operation `+open+` (route "change-mgmt", action "open-change"); kept`)
	})
	t.Run("json not returned", func(t *testing.T) {
		r := newTestRewriter(t, config.Plugin{Name: "drop", Command: pluginCmd(t, "json_drop_all.sh"), Format: "json"})
		got := rewrite(t, r, testInput())
		wantActions(t, got, "open-change")
		wantInfo(t, got,
			`plugin "drop": dropping everything`,
			`plugin "drop" tried to remove mandatory operation `+open+
				` (route "change-mgmt", action "open-change") by not returning it (retainResources false); kept`)
	})
	t.Run("made optional", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `{"retval": 0, "retainResources": true, "request": {"resources": [
				{"id": "`+open+`", "mandatory": false, "target": "jira"}]}}`)
		}))
		defer srv.Close()
		r := newTestRewriter(t, config.Plugin{Name: "opt", URL: srv.URL})
		got := rewrite(t, r, testInput())
		op := opByAction(t, got, "open-change")
		if !op.Mandatory || op.Target != "jira" {
			t.Errorf("operation = %+v, want still mandatory, target updated", op)
		}
		wantInfo(t, got, `plugin "opt" tried to make mandatory operation `+open+` (route "change-mgmt", action "open-change") optional; kept mandatory`)
	})
}

func TestRewriteErrmsg(t *testing.T) {
	r := newTestRewriter(t,
		config.Plugin{Name: "cab", Command: pluginCmd(t, "kv_add.sh")},
		config.Plugin{Name: "calendar", Command: pluginCmd(t, "kv_errmsg.sh")})
	got, err := r.Rewrite(context.Background(), testInput())
	if err == nil || !failure.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	if want := `rewrite plugin "calendar": change window closed: no changes before Monday`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	// The plan as rewritten so far, with the failing run's infomsg.
	wantActions(t, got, "open-change", "notify-requester", "approve", "notify-cab")
	wantInfo(t, got, `plugin "cab": added the CAB notification`, `plugin "calendar": checked the CAB calendar`)
}

func TestRewriteRetval(t *testing.T) {
	r := newTestRewriter(t, config.Plugin{Name: "rv", Command: pluginCmd(t, "kv_retval.sh")})
	_, err := r.Rewrite(context.Background(), testInput())
	if err == nil || !failure.IsPermanent(err) || err.Error() != `rewrite plugin "rv": failed with retval 2` {
		t.Fatalf("err = %v (permanent %v), want the permanent retval failure", err, failure.IsPermanent(err))
	}
}

func TestRewriteRerun(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		maxRuns  int
		wantRuns int
		capped   bool
	}{
		{"true", 3, 3, true},
		{"auto-once", 5, 2, false}, // run 2 adds the same resource again: no change, no rerun
		{"auto-always", 4, 4, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			counter := filepath.Join(t.TempDir(), "runs")
			r := newTestRewriter(t, config.Plugin{Name: "again", Command: pluginCmd(t, "kv_rerun.sh", counter, tc.mode), MaxRuns: tc.maxRuns})
			got := rewrite(t, r, testInput())
			b, err := os.ReadFile(counter)
			if err != nil {
				t.Fatal(err)
			}
			if runs, _ := strconv.Atoi(strings.TrimSpace(string(b))); runs != tc.wantRuns {
				t.Fatalf("plugin ran %d times, want %d", runs, tc.wantRuns)
			}
			var want []string
			for i := 1; i <= tc.wantRuns; i++ {
				want = append(want, `plugin "again": run `+strconv.Itoa(i))
			}
			if tc.capped {
				want = append(want, `plugin "again" asked to run again after `+strconv.Itoa(tc.maxRuns)+` runs (max_runs `+strconv.Itoa(tc.maxRuns)+`); not rerun`)
			}
			wantInfo(t, got, want...)
			if tc.mode == "auto-always" {
				if op := opByAction(t, got, "comment"); op.Attrs["run"] != strconv.Itoa(tc.maxRuns) || op.Target != "securechange" {
					t.Errorf("comment operation = %+v, want the last run's", op)
				}
				wantActions(t, got, "open-change", "notify-requester", "approve", "comment")
			}
		})
	}
}

func TestRewriteChangedFalseIgnored(t *testing.T) {
	r := newTestRewriter(t, config.Plugin{Name: "noop", Command: pluginCmd(t, "kv_unchanged.sh")})
	in := testInput()
	got := rewrite(t, r, in)
	if !operationsEqual(got.Operations, in.Plan.Operations) {
		t.Fatalf("operations changed: %v", actionsOf(got))
	}
	wantInfo(t, got, `plugin "noop": nothing to do`)
}

func TestRewriteGroupApproval(t *testing.T) {
	r := newTestRewriter(t, config.Plugin{Name: "grp", Command: pluginCmd(t, "kv_group.sh", "notify-requester", "approve")})
	got := rewrite(t, r, testInput())
	wantActions(t, got, "open-change", "notify-requester", "approve", "writeback", "audit")
	for action, want := range map[string]string{
		"open-change": "", "notify-requester": "cab", "approve": "cab", "writeback": "cab",
		"audit": "49583745-3242-6364-3453-384850692934",
	} {
		if g := opByAction(t, got, action).Group; g != want {
			t.Errorf("%s: group %q, want %q", action, g, want)
		}
	}
}

func TestRewriteTwoPluginsInOrder(t *testing.T) {
	t.Run("kvgroup", func(t *testing.T) {
		r := newTestRewriter(t,
			config.Plugin{Name: "cab", Command: pluginCmd(t, "kv_add.sh")},
			config.Plugin{Name: "count", Command: pluginCmd(t, "kv_count.sh")})
		got := rewrite(t, r, testInput())
		wantInfo(t, got,
			`plugin "cab": added the CAB notification`,
			`plugin "count": saw 4 resources: open-change,notify-requester,approve,notify-cab`)
	})
	t.Run("kvgroup then json", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed")
		}
		r := newTestRewriter(t,
			config.Plugin{Name: "cab", Command: pluginCmd(t, "kv_add.sh")},
			config.Plugin{Name: "py", Command: pluginCmd(t, "json_rewrite.py"), Format: "json"})
		got := rewrite(t, r, testInput())
		wantInfo(t, got,
			`plugin "cab": added the CAB notification`,
			`plugin "py": firstrun=true run=1 ticket=42`,
			`plugin "py": saw open-change,notify-requester,approve,notify-cab`)
		// approve (drop=true) was not returned: removed; open-change is returned.
		wantActions(t, got, "open-change", "notify-requester", "notify-cab", "writeback")
		cab := opByAction(t, got, "notify-cab")
		if string(cab.Spec) != `{"to":["cab@example.com"],"subject":"CAB review for ticket 42"}` {
			t.Errorf("notify-cab spec = %s", cab.Spec)
		}
		if cab.Attrs["autoselect"] != "true" || cab.Group != "cab" {
			t.Errorf("notify-cab = %+v, want its attrs kept and group cab", cab)
		}
		wb := opByAction(t, got, "writeback")
		if wb.ID != opID("plugin:py", "writeback") || wb.Route != "plugin:py" || wb.Target != "securechange" || wb.Group != "cab" {
			t.Errorf("writeback = %+v", wb)
		}
	})
}

func TestRewriteNoPlugins(t *testing.T) {
	r := newTestRewriter(t)
	in := testInput()
	got := rewrite(t, r, in)
	if !operationsEqual(got.Operations, in.Plan.Operations) || len(got.Info) != 0 {
		t.Fatal("plan changed without plugins")
	}
}

// TestSpecEqualIsSemantic: a spec a plugin echoes through another JSON library (other
// escapes, member order, white space) is the same spec; a different value is not.
func TestSpecEqualIsSemantic(t *testing.T) {
	ours := json.RawMessage(`{"server":"sn","body":"<p>a & b</p>","fields":{"x":1,"y":[true,null]}}`)
	for _, tc := range []struct {
		theirs string
		equal  bool
	}{
		{`{"server":"sn","body":"\u003cp\u003ea \u0026 b\u003c/p\u003e","fields":{"x":1,"y":[true,null]}}`, true},
		{`{"fields":{"y":[true,null],"x":1},"body":"<p>a & b</p>","server":"sn"}`, true},
		{"{\n  \"server\": \"sn\",\n  \"body\": \"<p>a & b</p>\",\n  \"fields\": {\"x\": 1, \"y\": [true, null]}\n}", true},
		{`{"server":"sn","body":"<p>a & c</p>","fields":{"x":1,"y":[true,null]}}`, false},
		{`{"server":"sn","body":"<p>a & b</p>","fields":{"x":2,"y":[true,null]}}`, false},
		{`{"server":"sn","body":"<p>a & b</p>"}`, false},
		{`not json`, false},
	} {
		if got := specEqual(ours, json.RawMessage(tc.theirs)); got != tc.equal {
			t.Errorf("specEqual(%s, %s) = %t, want %t", ours, tc.theirs, got, tc.equal)
		}
	}
}
