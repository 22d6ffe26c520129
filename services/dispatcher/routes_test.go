package dispatcher_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// Fixtures (testdata/routes):
//
//	many_steps_many_fields.json  workflow "Access Request", steps Open request → Risk Review →
//	                             Approval (current); Approval has three tasks (an array) whose
//	                             fields come as an array and as single objects; "Risk" is "High"
//	                             in the first task, "Medium" in the second, "Low" in Open request.
//	one_step_one_field.json      workflow "Access Request", one step Open request (current), one
//	                             task, one field Risk = "High", every collection a single object.
//	advance_completion.xml       current_stage Approval, completion stage Risk Review,
//	                             open_request_stage Open request.
//	advance_no_completion.xml    current_stage Approval, open_request_stage Open request.

func rtReadFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "routes", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rtTicket(t testing.TB, name string) *securechange.Ticket {
	t.Helper()
	tk, err := securechange.DecodeTicket(rtReadFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &tk
}

func rtInfo(t testing.TB, name string) events.TicketInfo {
	t.Helper()
	info, err := securechange.DecodeTicketInfo(rtReadFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return info
}

func rtTrigger(ev events.Trigger, info events.TicketInfo) events.TriggerEvent {
	return events.TriggerEvent{Event: ev, Ticket: info}
}

// rtClosedTicket is the many-steps ticket once closed: no current step.
func rtClosedTicket(t testing.TB) *securechange.Ticket {
	tk := rtTicket(t, "many_steps_many_fields.json")
	tk.CurrentStep = nil
	tk.Status = "Ticket Closed"
	return tk
}

// rtRedoneTicket is the many-steps ticket after Approval sent it back to Risk Review.
func rtRedoneTicket(t testing.TB) *securechange.Ticket {
	tk := rtTicket(t, "many_steps_many_fields.json")
	tk.Steps = append(tk.Steps, securechange.Step{ID: "4", Name: "Risk Review"})
	tk.CurrentStep = &securechange.StepRef{ID: "4", Name: "Risk Review"}
	return tk
}

func rtCompile(t testing.TB, routes ...config.Route) *dispatcher.Routes {
	t.Helper()
	r, err := dispatcher.CompileRoutes(routes)
	if err != nil {
		t.Fatalf("CompileRoutes: %v", err)
	}
	return r
}

// rtGot renders matches as "name@point:step" for comparison.
func rtGot(ms []dispatcher.Match) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Route.Name+"@"+m.Point+":"+m.Step)
	}
	return out
}

// rtWhere is the expected match of an inbound, outbound and step route without a step
// filter: the step name, or "" for no match. A workflow route always matches.
type rtWhere struct{ inbound, outbound, step string }

// TestMatchPointTable: the integration-point table of Match, row by row. Long: it is the table.
func TestMatchPointTable(t *testing.T) {
	t.Parallel()
	const (
		open     = "Open request"
		review   = "Risk Review"
		approval = "Approval"
	)
	many := rtTicket(t, "many_steps_many_fields.json")
	withDone := rtInfo(t, "advance_completion.xml")
	noDone := rtInfo(t, "advance_no_completion.xml")
	openOnly := events.TicketInfo{ID: "5", OpenRequestStage: &events.Stage{ID: "1", Name: open}}
	bare := events.TicketInfo{ID: "6"}

	// Every context lists every trigger, literally: this is the table of stepsOf.
	contexts := []struct {
		name   string
		info   events.TicketInfo
		ticket *securechange.Ticket
		want   map[events.Trigger]rtWhere
	}{{
		name: "enriched many steps", info: withDone, ticket: many,
		want: map[events.Trigger]rtWhere{
			events.Create:              {open, "", ""},
			events.Advance:             {approval, review, ""},
			events.Redo:                {approval, review, ""},
			events.Close:               {"", "", approval},
			events.Cancel:              {"", "", approval},
			events.Reject:              {"", "", approval},
			events.Reopen:              {"", "", approval},
			events.Resolve:             {"", "", approval},
			events.Resubmit:            {"", "", approval},
			events.AutomationFailed:    {"", "", approval},
			events.PreAssignmentScript: {"", "", approval},
		},
	}, {
		// The enriched ticket wins over the XML: here the XML says nothing at all.
		name: "enriched, bare XML", info: bare, ticket: many,
		want: map[events.Trigger]rtWhere{
			events.Create:              {open, "", ""},
			events.Advance:             {approval, review, ""},
			events.Redo:                {approval, review, ""},
			events.Close:               {"", "", approval},
			events.Cancel:              {"", "", approval},
			events.Reject:              {"", "", approval},
			events.Reopen:              {"", "", approval},
			events.Resolve:             {"", "", approval},
			events.Resubmit:            {"", "", approval},
			events.AutomationFailed:    {"", "", approval},
			events.PreAssignmentScript: {"", "", approval},
		},
	}, {
		name: "enriched one step", info: bare, ticket: rtTicket(t, "one_step_one_field.json"),
		want: map[events.Trigger]rtWhere{
			events.Create:              {open, "", ""},
			events.Advance:             {open, "", ""},
			events.Redo:                {open, "", ""},
			events.Close:               {"", "", open},
			events.Cancel:              {"", "", open},
			events.Reject:              {"", "", open},
			events.Reopen:              {"", "", open},
			events.Resolve:             {"", "", open},
			events.Resubmit:            {"", "", open},
			events.AutomationFailed:    {"", "", open},
			events.PreAssignmentScript: {"", "", open},
		},
	}, {
		// Closed: no current_step, so the trigger happened in the last step.
		name: "enriched closed", info: bare, ticket: rtClosedTicket(t),
		want: map[events.Trigger]rtWhere{
			events.Create:              {open, "", ""},
			events.Advance:             {approval, review, ""},
			events.Redo:                {approval, review, ""},
			events.Close:               {"", "", approval},
			events.Cancel:              {"", "", approval},
			events.Reject:              {"", "", approval},
			events.Reopen:              {"", "", approval},
			events.Resolve:             {"", "", approval},
			events.Resubmit:            {"", "", approval},
			events.AutomationFailed:    {"", "", approval},
			events.PreAssignmentScript: {"", "", approval},
		},
	}, {
		name: "enriched redone", info: bare, ticket: rtRedoneTicket(t),
		want: map[events.Trigger]rtWhere{
			events.Create:              {open, "", ""},
			events.Advance:             {review, approval, ""},
			events.Redo:                {review, approval, ""},
			events.Close:               {"", "", review},
			events.Cancel:              {"", "", review},
			events.Reject:              {"", "", review},
			events.Reopen:              {"", "", review},
			events.Resolve:             {"", "", review},
			events.Resubmit:            {"", "", review},
			events.AutomationFailed:    {"", "", review},
			events.PreAssignmentScript: {"", "", review},
		},
	}, {
		name: "XML with completion stage", info: withDone,
		want: map[events.Trigger]rtWhere{
			events.Create:              {approval, "", ""},
			events.Advance:             {approval, review, ""},
			events.Redo:                {approval, review, ""},
			events.Close:               {"", "", approval},
			events.Cancel:              {"", "", approval},
			events.Reject:              {"", "", approval},
			events.Reopen:              {"", "", approval},
			events.Resolve:             {"", "", approval},
			events.Resubmit:            {"", "", approval},
			events.AutomationFailed:    {"", "", approval},
			events.PreAssignmentScript: {"", "", approval},
		},
	}, {
		// The seed's custom script: on ADVANCE, current_stage is the step just left.
		name: "XML without completion stage", info: noDone,
		want: map[events.Trigger]rtWhere{
			events.Create:              {approval, "", ""},
			events.Advance:             {"", approval, ""},
			events.Redo:                {approval, "", ""},
			events.Close:               {"", "", approval},
			events.Cancel:              {"", "", approval},
			events.Reject:              {"", "", approval},
			events.Reopen:              {"", "", approval},
			events.Resolve:             {"", "", approval},
			events.Resubmit:            {"", "", approval},
			events.AutomationFailed:    {"", "", approval},
			events.PreAssignmentScript: {"", "", approval},
		},
	}, {
		name: "XML with open_request_stage only", info: openOnly,
		want: map[events.Trigger]rtWhere{
			events.Create:              {open, "", ""},
			events.Advance:             {"", "", ""},
			events.Redo:                {"", "", ""},
			events.Close:               {"", "", ""},
			events.Cancel:              {"", "", ""},
			events.Reject:              {"", "", ""},
			events.Reopen:              {"", "", ""},
			events.Resolve:             {"", "", ""},
			events.Resubmit:            {"", "", ""},
			events.AutomationFailed:    {"", "", ""},
			events.PreAssignmentScript: {"", "", ""},
		},
	}, {
		name: "XML without stages", info: bare,
		want: map[events.Trigger]rtWhere{
			events.Create:              {"", "", ""},
			events.Advance:             {"", "", ""},
			events.Redo:                {"", "", ""},
			events.Close:               {"", "", ""},
			events.Cancel:              {"", "", ""},
			events.Reject:              {"", "", ""},
			events.Reopen:              {"", "", ""},
			events.Resolve:             {"", "", ""},
			events.Resubmit:            {"", "", ""},
			events.AutomationFailed:    {"", "", ""},
			events.PreAssignmentScript: {"", "", ""},
		},
	}}

	points := []string{config.PointInbound, config.PointOutbound, config.PointStep, config.PointWorkflow}
	for _, c := range contexts {
		for _, ev := range events.Triggers() {
			w, ok := c.want[ev]
			if !ok {
				t.Fatalf("%s: the table has no row for %s", c.name, ev)
			}
			for _, point := range points {
				want := map[string]string{
					config.PointInbound:  w.inbound,
					config.PointOutbound: w.outbound,
					config.PointStep:     w.step,
				}[point]
				t.Run(fmt.Sprintf("%s/%s/%s", c.name, ev, point), func(t *testing.T) {
					t.Parallel()
					in := dispatcher.MatchInput{Trigger: rtTrigger(ev, c.info), Ticket: c.ticket}
					// With continue, the workflow-level route is never dropped, so each
					// step-level route is seen on its own.
					routes := []config.Route{
						{Name: "any", On: config.RouteOn{Point: point}, Continue: true},
						{Name: "this", On: config.RouteOn{Point: point, Step: want}, Continue: true},
						{Name: "other", On: config.RouteOn{Point: point, Step: "Other"}, Continue: true},
					}
					var exp []string
					switch {
					case point == config.PointWorkflow:
						routes = routes[:1]
						exp = []string{"any@workflow:"}
					case want != "":
						exp = []string{"any@" + point + ":" + want, "this@" + point + ":" + want}
					default:
						routes = slices.Delete(routes, 1, 2)
					}
					ms, err := rtCompile(t, routes...).Match(in)
					if err != nil {
						t.Fatal(err)
					}
					if g := rtGot(ms); !slices.Equal(g, exp) {
						t.Errorf("got %q, want %q", g, exp)
					}
				})
			}
		}
	}
}

// TestMatchRoutes: which routes apply, case by case. Long: a table of cases.
func TestMatchRoutes(t *testing.T) {
	t.Parallel()
	many := rtTicket(t, "many_steps_many_fields.json")
	one := rtTicket(t, "one_step_one_field.json")
	withDone := rtInfo(t, "advance_completion.xml")
	noDone := rtInfo(t, "advance_no_completion.xml")
	otherWF := rtTicket(t, "many_steps_many_fields.json")
	otherWF.Workflow.Name = "Server Decommission"

	in := func(ev events.Trigger, info events.TicketInfo, tk *securechange.Ticket) dispatcher.MatchInput {
		return dispatcher.MatchInput{Trigger: rtTrigger(ev, info), Ticket: tk}
	}
	withMediator := func(m dispatcher.MatchInput, script, args string) dispatcher.MatchInput {
		m.Trigger.Script, m.Trigger.Args = script, args
		return m
	}
	wf := func(name string, evs ...string) config.Route {
		return config.Route{Name: name, On: config.RouteOn{Events: evs, Point: config.PointWorkflow}}
	}
	at := func(name, point, step string, evs ...string) config.Route {
		return config.Route{Name: name, On: config.RouteOn{Events: evs, Point: point, Step: step}}
	}
	cont := func(r config.Route) config.Route { r.Continue = true; return r }
	when := func(r config.Route, w string) config.Route { r.When = w; return r }
	named := func(r config.Route, workflow string) config.Route { r.Workflow = workflow; return r }

	tests := []struct {
		name   string
		routes []config.Route
		in     dispatcher.MatchInput
		want   []string
	}{
		{
			name:   "no routes",
			in:     in(events.Create, withDone, many),
			want:   []string{},
			routes: nil,
		},
		{
			name:   "workflow-level routes only, in config order",
			routes: []config.Route{wf("b"), wf("a", "CREATE"), wf("c", "CLOSE")},
			in:     in(events.Create, withDone, many),
			want:   []string{"b@workflow:", "a@workflow:"},
		},
		{
			name: "event list",
			routes: []config.Route{
				wf("end", "CLOSE", "CANCEL", "REJECT"), wf("start", "CREATE", "RESUBMIT"),
			},
			in:   in(events.Cancel, withDone, many),
			want: []string{"end@workflow:"},
		},
		{
			name:   "inbound wins over workflow",
			routes: []config.Route{wf("wf-advance", "ADVANCE"), at("into-approval", config.PointInbound, "Approval"), wf("wf-any")},
			in:     in(events.Advance, withDone, many),
			want:   []string{"into-approval@inbound:Approval"},
		},
		{
			name:   "outbound wins over workflow",
			routes: []config.Route{wf("wf-any"), at("out-of-review", config.PointOutbound, "Risk Review", "ADVANCE")},
			in:     in(events.Advance, withDone, many),
			want:   []string{"out-of-review@outbound:Risk Review"},
		},
		{
			name:   "step trigger wins over workflow-level REJECT",
			routes: []config.Route{wf("wf-reject", "REJECT"), at("rejected-in-approval", config.PointStep, "Approval", "REJECT")},
			in:     in(events.Reject, withDone, many),
			want:   []string{"rejected-in-approval@step:Approval"},
		},
		{
			name: "continue keeps workflow-level routes, in config order",
			routes: []config.Route{
				wf("wf-reject", "REJECT"),
				at("rejected-in-approval", config.PointStep, "Approval", "REJECT"),
				cont(at("rejected-anywhere", config.PointStep, "", "REJECT")),
				wf("wf-any"),
			},
			in: in(events.Reject, withDone, many),
			want: []string{
				"wf-reject@workflow:", "rejected-in-approval@step:Approval",
				"rejected-anywhere@step:Approval", "wf-any@workflow:",
			},
		},
		{
			name: "continue on a step route that does not match changes nothing",
			routes: []config.Route{
				wf("wf-any"),
				cont(at("in-review", config.PointStep, "Risk Review")),
				at("in-approval", config.PointStep, "Approval"),
			},
			in:   in(events.AutomationFailed, withDone, many),
			want: []string{"in-approval@step:Approval"},
		},
		{
			name:   "a step route that does not match leaves workflow routes",
			routes: []config.Route{at("into-review", config.PointInbound, "Risk Review"), wf("wf-any")},
			in:     in(events.Advance, withDone, many),
			want:   []string{"wf-any@workflow:"},
		},
		{
			name:   "a step route whose when is false leaves workflow routes",
			routes: []config.Route{when(at("into-approval", config.PointInbound, "Approval"), `ticket.fields["Risk"] == "Low"`), wf("wf-any")},
			in:     in(events.Advance, withDone, many),
			want:   []string{"wf-any@workflow:"},
		},
		{
			name: "ADVANCE with the ticket: left steps[-2], entered steps[-1]",
			routes: []config.Route{
				at("out", config.PointOutbound, ""), at("into", config.PointInbound, ""),
				at("in", config.PointStep, ""), wf("wf"),
			},
			in:   in(events.Advance, noDone, many),
			want: []string{"out@outbound:Risk Review", "into@inbound:Approval"},
		},
		{
			name: "ADVANCE without the ticket, with a completion stage",
			routes: []config.Route{
				at("out", config.PointOutbound, ""), at("into", config.PointInbound, ""),
				at("in", config.PointStep, ""), wf("wf"),
			},
			in:   in(events.Advance, withDone, nil),
			want: []string{"out@outbound:Risk Review", "into@inbound:Approval"},
		},
		{
			name: "ADVANCE without the ticket or a completion stage: current_stage was left",
			routes: []config.Route{
				at("out", config.PointOutbound, "Approval"), at("into", config.PointInbound, ""),
				at("in", config.PointStep, ""), wf("wf"),
			},
			in:   in(events.Advance, noDone, nil),
			want: []string{"out@outbound:Approval"},
		},
		{
			name: "the seed script's comparison as a condition",
			routes: []config.Route{
				when(at("still-there", config.PointOutbound, ""), `trigger.current_stage == ticket.previous_step`),
				when(at("moved-on", config.PointOutbound, ""), `trigger.current_stage != ticket.previous_step`),
			},
			in:   in(events.Advance, events.TicketInfo{ID: "1234", CurrentStage: &events.Stage{Name: "Risk Review"}}, many),
			want: []string{"still-there@outbound:Risk Review"},
		},
		{
			name:   "CREATE enters the first step",
			routes: []config.Route{at("into-open", config.PointInbound, "Open request", "CREATE"), wf("wf-create", "CREATE")},
			in:     in(events.Create, events.TicketInfo{ID: "1"}, one),
			want:   []string{"into-open@inbound:Open request"},
		},
		{
			name: "REDO enters the step returned to and leaves the one before",
			routes: []config.Route{
				at("back-to-review", config.PointInbound, "Risk Review", "REDO"),
				at("out-of-approval", config.PointOutbound, "Approval", "REDO"),
			},
			in:   in(events.Redo, events.TicketInfo{ID: "1234"}, rtRedoneTicket(t)),
			want: []string{"back-to-review@inbound:Risk Review", "out-of-approval@outbound:Approval"},
		},
		{
			name:   "ADVANCE and REDO are never step triggers",
			routes: []config.Route{at("in-approval", config.PointStep, "Approval"), wf("wf")},
			in:     in(events.Redo, withDone, many),
			want:   []string{"wf@workflow:"},
		},
		{
			name: "field value conditions",
			routes: []config.Route{
				// The first task of Approval wins over the second; Open request's value is not current.
				when(wf("high", "ADVANCE"), `ticket.fields["Risk"] == "High"`),
				when(wf("low", "ADVANCE"), `ticket.fields["Risk"] == "Low"`),
				when(wf("approved"), `ticket.fields["Approve Access Request"] == "true" && ticket.fields["Audited"] == "true"`),
				when(wf("zones"), `ticket.fields["Zones"] == "DMZ, Core" && "DMZ" in split(ticket.fields["Zones"], ", ")`),
				when(wf("emergency"), `ticket.fields["Emergency"] == "true" || ticket.fields["No Such Field"] != ""`),
			},
			in:   in(events.Advance, withDone, many),
			want: []string{"high@workflow:", "approved@workflow:", "zones@workflow:"},
		},
		{
			name: "field value without a ticket is empty",
			routes: []config.Route{
				when(wf("high"), `ticket.fields["Risk"] == "High"`),
				when(wf("unset"), `ticket.fields["Risk"] == "" && !enriched`),
			},
			in:   in(events.Advance, withDone, nil),
			want: []string{"unset@workflow:"},
		},
		{
			name:   "field of a one-step ticket",
			routes: []config.Route{when(wf("high"), `ticket.fields["Risk"] == "High" && len(ticket.fields) == 1`)},
			in:     in(events.Create, events.TicketInfo{ID: "1"}, one),
			want:   []string{"high@workflow:"},
		},
		{
			name: "workflow filter with the ticket",
			routes: []config.Route{
				named(wf("ar"), "Access Request"), named(wf("decom"), "Server Decommission"), wf("any"),
				named(wf("case"), "access request"),
			},
			in:   in(events.Close, withDone, many),
			want: []string{"ar@workflow:", "any@workflow:"},
		},
		{
			name:   "workflow filter, another workflow",
			routes: []config.Route{named(wf("ar"), "Access Request"), named(wf("decom"), "Server Decommission")},
			in:     in(events.Close, withDone, otherWF),
			want:   []string{"decom@workflow:"},
		},
		{
			name: "workflow filter without a ticket: only routes naming no workflow",
			routes: []config.Route{
				named(wf("ar"), "Access Request"), wf("any"),
				named(at("ar-step", config.PointStep, ""), "Access Request"),
			},
			in:   in(events.Close, withDone, nil),
			want: []string{"any@workflow:"},
		},
		{
			name:   "workflow-named step route does not suppress without a ticket",
			routes: []config.Route{named(at("ar-in-approval", config.PointStep, "Approval"), "Access Request"), wf("any")},
			in:     in(events.Reject, withDone, nil),
			want:   []string{"any@workflow:"},
		},
		{
			name: "script and args filters",
			routes: []config.Route{
				{Name: "script", On: config.RouteOn{Script: "/opt/scripts/sync.sh"}},
				{Name: "script-prefix", On: config.RouteOn{Script: "/opt/scripts/sync"}},
				{Name: "args-unanchored", On: config.RouteOn{Args: `mode=sync\b`}},
				{Name: "args-anchored", On: config.RouteOn{Args: `^mode=sync`}},
				{Name: "both", On: config.RouteOn{Script: "/opt/scripts/sync.sh", Args: `ticket=\d+$`}},
				{Name: "args-other", On: config.RouteOn{Args: `mode=async`}},
			},
			in:   withMediator(in(events.Create, withDone, many), "/opt/scripts/sync.sh", "--verbose mode=sync ticket=1234"),
			want: []string{"script@workflow:", "args-unanchored@workflow:", "both@workflow:"},
		},
		{
			name:   "script filter without script",
			routes: []config.Route{{Name: "script", On: config.RouteOn{Script: "x"}}, {Name: "args", On: config.RouteOn{Args: "."}}, {Name: "empty-args", On: config.RouteOn{Args: "^$"}}},
			in:     in(events.Create, withDone, many),
			want:   []string{"empty-args@workflow:"},
		},
		{
			name: "conditions on event, workflow, steps and trigger",
			routes: []config.Route{
				when(wf("event"), `event == "ADVANCE" && enriched && workflow == "Access Request"`),
				when(wf("steps"), `step.left == "Risk Review" && step.entered == "Approval" && step.in == "Approval"`),
				when(wf("stages"), `trigger.completion_stage == "Risk Review" && trigger.current_stage == "Approval" && trigger.open_request_stage == "Open request"`),
				when(wf("mediator"), `trigger.script == "s.sh" && trigger.args matches "^a b"`),
				when(wf("ticket"), `ticket.id == "1234" && ticket.requester == "a.jones" && ticket.status == "In Progress" && ticket.priority == "Normal" && ticket.subject startsWith "Allow" && ticket.current_step == "Approval" && ticket.previous_step == "Risk Review"`),
				when(wf("false"), `event == "CREATE"`),
			},
			in:   withMediator(in(events.Advance, withDone, many), "s.sh", "a b c"),
			want: []string{"event@workflow:", "steps@workflow:", "stages@workflow:", "mediator@workflow:", "ticket@workflow:"},
		},
		{
			name: "conditions without a ticket: zero values but present",
			routes: []config.Route{
				when(wf("zero"), `!enriched && workflow == "" && ticket.requester == "" && ticket.status == "" && ticket.priority == "" && ticket.current_step == "" && ticket.previous_step == "" && len(ticket.fields) == 0`),
				when(wf("from-xml"), `ticket.id == "1234" && ticket.subject == "Allow web to db"`),
				when(wf("steps"), `step.left == "Approval" && step.entered == "" && step.in == "Approval"`),
			},
			in:   in(events.Advance, noDone, nil),
			want: []string{"zero@workflow:", "from-xml@workflow:", "steps@workflow:"},
		},
		{
			name: "closed ticket: no current step, fields of the last step",
			routes: []config.Route{
				when(wf("closed"), `ticket.current_step == "" && step.in == "Approval" && ticket.fields["ITSM Ticket"] == "CHG0012345"`),
				at("closed-in-approval", config.PointStep, "Approval", "CLOSE"),
			},
			in:   in(events.Close, events.TicketInfo{ID: "1234"}, rtClosedTicket(t)),
			want: []string{"closed-in-approval@step:Approval"},
		},
		{
			name:   "fields of the current step, not the latest one",
			routes: []config.Route{when(wf("current"), `ticket.fields["Risk"] == "Low" && ticket.fields["Business Justification"] == "orders db"`)},
			in: func() dispatcher.MatchInput {
				tk := rtTicket(t, "many_steps_many_fields.json")
				tk.CurrentStep = &securechange.StepRef{ID: "1", Name: "Open request"}
				return in(events.Reject, withDone, tk)
			}(),
			want: []string{"current@workflow:"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms, err := rtCompile(t, tc.routes...).Match(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if g := rtGot(ms); !slices.Equal(g, tc.want) {
				t.Errorf("got %q\nwant %q", g, tc.want)
			}
		})
	}
}

func TestMatchRuntimeError(t *testing.T) {
	t.Parallel()
	r := rtCompile(t,
		config.Route{Name: "fine"},
		config.Route{Name: "risk-number", When: `int(ticket.fields["Risk"]) > 2`},
		config.Route{Name: "third-zone", When: `split(ticket.fields["Zones"], ", ")[2] == "Lab"`},
		config.Route{Name: "not-evaluated", Workflow: "Other", When: `int(ticket.fields["Risk"]) > 2`},
	)
	ms, err := r.Match(dispatcher.MatchInput{
		Trigger: rtTrigger(events.Reject, rtInfo(t, "advance_completion.xml")),
		Ticket:  rtTicket(t, "many_steps_many_fields.json"),
	})
	if err == nil {
		t.Fatalf("no error, matches %q", rtGot(ms))
	}
	if ms != nil {
		t.Errorf("matches %q returned with the error", rtGot(ms))
	}
	if !dispatcher.IsPermanent(err) {
		t.Errorf("error is not permanent: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"routes[1] (risk-number).when: ", "routes[2] (third-zone).when: ", "(1:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "not-evaluated") || strings.Contains(msg, "fine") {
		t.Errorf("error names a route that did not fail:\n%s", msg)
	}
}

// TestCompileRoutesErrors: each compile error and its message. Long: a table of cases.
func TestCompileRoutesErrors(t *testing.T) {
	t.Parallel()
	ok := config.Route{Name: "ok", When: `event == "CREATE"`}
	tests := []struct {
		name   string
		routes []config.Route
		want   []string // each a prefix of one line of the message, in order
		fields []string // RouteError.Field of every problem
	}{
		{
			name:   "unknown identifier",
			routes: []config.Route{ok, ok, {Name: "open-change", When: `tikcet.id == "1"`}},
			want:   []string{"routes[2] (open-change).when: unknown name tikcet (1:1)"},
			fields: []string{"when"},
		},
		{
			name:   "unknown member",
			routes: []config.Route{{Name: "typo", When: `ticket.fieldz["Risk"] == "High"`}},
			want:   []string{"routes[0] (typo).when: type dispatcher.ticketEnv has no field fieldz (1:8)"},
			fields: []string{"when"},
		},
		{
			name:   "syntax error",
			routes: []config.Route{{Name: "half", When: `event ==`}},
			want:   []string{"routes[0] (half).when: unexpected token EOF (1:8)"},
			fields: []string{"when"},
		},
		{
			name:   "not a boolean",
			routes: []config.Route{ok, {Name: "string", When: `ticket.subject`}},
			want:   []string{"routes[1] (string).when: expected bool, but got string"},
			fields: []string{"when"},
		},
		{
			name:   "type mismatch",
			routes: []config.Route{{Name: "types", When: `ticket.id > 3`}},
			want:   []string{"routes[0] (types).when: invalid operation: > (mismatched types string and int) (1:11)"},
			fields: []string{"when"},
		},
		{
			name:   "bad args regexp",
			routes: []config.Route{{Name: "args", On: config.RouteOn{Args: `mode=(sync`}}},
			want:   []string{`routes[0] (args).on.args: not a regular expression: missing closing ): "mode=(sync"`},
			fields: []string{"on.args"},
		},
		{
			name:   "unknown point",
			routes: []config.Route{{Name: "pt", On: config.RouteOn{Point: "entry"}}},
			want:   []string{`routes[0] (pt).on.point: "entry" is not one of inbound, outbound, step, workflow`},
			fields: []string{"on.point"},
		},
		{
			name:   "workflow point with a step",
			routes: []config.Route{{Name: "wfstep", On: config.RouteOn{Point: config.PointWorkflow, Step: "Approval"}}},
			want:   []string{`routes[0] (wfstep).on.point: workflow-level routes match no step, but on.step is "Approval"`},
			fields: []string{"on.point"},
		},
		{
			name:   "unknown event and TEST",
			routes: []config.Route{{Name: "ev", On: config.RouteOn{Events: config.StringList{"CREATE", "advance", "TEST"}}}},
			want: []string{
				`routes[0] (ev).on.event[1]: unknown trigger "advance": did you mean "ADVANCE"?`,
				`routes[0] (ev).on.event[2]: TEST is never stored`,
			},
			fields: []string{"on.event[1]", "on.event[2]"},
		},
		{
			name: "several bad routes, each named; an unnamed one by index",
			routes: []config.Route{
				{Name: "a", When: `nope`},
				ok,
				{When: `event ==`},
				{Name: "d", When: `ticket.subject`, On: config.RouteOn{Args: `(`}},
			},
			want: []string{
				"routes[0] (a).when: unknown name nope (1:1)",
				"routes[2].when: unexpected token EOF",
				"routes[3] (d).on.args: not a regular expression",
				"routes[3] (d).when: expected bool",
			},
			fields: []string{"when", "when", "on.args", "when"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := dispatcher.CompileRoutes(tc.routes)
			if err == nil {
				t.Fatal("no error")
			}
			if r != nil {
				t.Error("Routes returned with an error")
			}
			// Problem lines: expr's messages continue on lines starting with " | ".
			var lines []string
			for _, l := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(l, " | ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], w)
				}
			}
			var fields []string
			rtRouteErrors(err, func(re *dispatcher.RouteError) { fields = append(fields, re.Field) })
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("RouteError fields %q, want %q", fields, tc.fields)
			}
		})
	}
}

// rtRouteErrors calls f for every *RouteError in err's tree, depth first.
func rtRouteErrors(err error, f func(*dispatcher.RouteError)) {
	if re, ok := err.(*dispatcher.RouteError); ok {
		f(re)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			rtRouteErrors(e, f)
		}
	}
}

func TestCompileRoutesErrorsOnePerRoute(t *testing.T) {
	t.Parallel()
	_, err := dispatcher.CompileRoutes([]config.Route{
		{Name: "two-problems", When: `x`, On: config.RouteOn{Args: `(`}},
		{Name: "fine"},
		{Name: "one-problem", When: `y`},
	})
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a join", err)
	}
	if n := len(j.Unwrap()); n != 2 {
		t.Fatalf("%d errors for 2 bad routes:\n%v", n, err)
	}
	var re *dispatcher.RouteError
	if !errors.As(j.Unwrap()[0], &re) || re.Name != "two-problems" || re.Index != 0 {
		t.Errorf("first error is not about routes[0]: %v", j.Unwrap()[0])
	}
	if !errors.As(j.Unwrap()[1], &re) || re.Name != "one-problem" || re.Index != 2 {
		t.Errorf("second error is not about routes[2]: %v", j.Unwrap()[1])
	}
}

func TestCompileRoutesDefaultsAndCopy(t *testing.T) {
	t.Parallel()
	routes := []config.Route{
		{Name: "stepless"},
		{Name: "stepped", On: config.RouteOn{Step: "Approval"}},
	}
	r := rtCompile(t, routes...)
	if routes[0].On.Point != "" || routes[1].On.Point != "" {
		t.Error("CompileRoutes changed the caller's routes")
	}
	routes[0].Name, routes[1].On.Step = "changed", "Changed"

	ms, err := r.Match(dispatcher.MatchInput{
		Trigger: rtTrigger(events.Reject, rtInfo(t, "advance_completion.xml")),
		Ticket:  rtTicket(t, "many_steps_many_fields.json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, want := rtGot(ms), []string{"stepped@step:Approval"}; !slices.Equal(g, want) {
		t.Errorf("got %q, want %q", g, want)
	}
	if ms[0].Route.On.Point != config.PointStep {
		t.Errorf("default point %q, want step", ms[0].Route.On.Point)
	}

	// With SetDefaults' result the outcome is the same.
	c := config.Config{Routes: []config.Route{{Name: "stepless"}, {Name: "stepped", On: config.RouteOn{Step: "Approval"}}}}
	c.SetDefaults()
	if c.Routes[0].On.Point != config.PointWorkflow || c.Routes[1].On.Point != config.PointStep {
		t.Fatalf("config.SetDefaults points: %q, %q", c.Routes[0].On.Point, c.Routes[1].On.Point)
	}
}

func TestMatchNil(t *testing.T) {
	t.Parallel()
	var r *dispatcher.Routes
	if ms, err := r.Match(dispatcher.MatchInput{}); ms != nil || err != nil {
		t.Errorf("nil Routes: %v, %v", ms, err)
	}
	ms, err := rtCompile(t).Match(dispatcher.MatchInput{Trigger: rtTrigger(events.Create, events.TicketInfo{ID: "1"})})
	if ms != nil || err != nil {
		t.Errorf("no routes: %v, %v", ms, err)
	}
}

func TestMatchConcurrent(t *testing.T) {
	t.Parallel()
	routes := rtBenchRoutes()
	r := rtCompile(t, routes...)
	in := dispatcher.MatchInput{
		Trigger: rtTrigger(events.Advance, rtInfo(t, "advance_completion.xml")),
		Ticket:  rtTicket(t, "many_steps_many_fields.json"),
	}
	first, err := r.Match(in)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				ms, err := r.Match(in)
				if err != nil || !slices.Equal(rtGot(ms), rtGot(first)) {
					t.Errorf("concurrent Match: %q, %v", rtGot(ms), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// rtBenchRoutes is 50 routes like a real configuration: a mix of workflows, events,
// points, steps, conditions and mediator filters.
func rtBenchRoutes() []config.Route {
	points := []string{config.PointInbound, config.PointOutbound, config.PointStep, config.PointWorkflow}
	steps := []string{"Open request", "Risk Review", "Approval", "Implementation"}
	workflows := []string{"", "Access Request", "Server Decommission"}
	trig := events.Triggers()
	whens := []string{
		"",
		`ticket.fields["Risk"] == "High"`,
		`ticket.fields["ITSM Ticket"] != "" && step.left == "Risk Review"`,
		`"DMZ" in split(ticket.fields["Zones"], ", ")`,
		`event in ["ADVANCE", "REDO"] && workflow == "Access Request"`,
	}
	var out []config.Route
	for i := range 50 {
		r := config.Route{
			Name:     fmt.Sprintf("route-%02d", i),
			Workflow: workflows[i%len(workflows)],
			When:     whens[i%len(whens)],
			Continue: i%7 == 0,
		}
		r.On.Point = points[i%len(points)]
		if r.On.Point != config.PointWorkflow && i%3 != 0 {
			r.On.Step = steps[i%len(steps)]
		}
		if i%2 == 0 {
			r.On.Events = config.StringList{string(trig[i%len(trig)]), string(events.Advance)}
		}
		if i%11 == 0 {
			r.On.Args = `mode=(sync|async)`
		}
		out = append(out, r)
	}
	return out
}

func BenchmarkMatch(b *testing.B) {
	r := rtCompile(b, rtBenchRoutes()...)
	in := dispatcher.MatchInput{
		Trigger: rtTrigger(events.Advance, rtInfo(b, "advance_completion.xml")),
		Ticket:  rtTicket(b, "many_steps_many_fields.json"),
	}
	in.Trigger.Args = "mode=sync"
	ms, err := r.Match(in)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Match(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ms)), "matches/op")
}

func BenchmarkCompileRoutes(b *testing.B) {
	routes := rtBenchRoutes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dispatcher.CompileRoutes(routes); err != nil {
			b.Fatal(err)
		}
	}
}
