package dispatcher_test

import (
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// FuzzRoutes compiles a route from arbitrary text and matches it, with fixed
// neighbours, against a trigger built from arbitrary values. Nothing may panic; a
// compile error names the route; a run-time error is Permanent and names it; and
// the precedence rule holds.
//
// Long: the seeds and the checks of one run read best together.
func FuzzRoutes(f *testing.F) {
	f.Add(`ticket.fields["Risk"] == "High"`, `mode=sync`, "Approval", uint8(0), uint8(1), "Approval", "Risk Review", "mode=sync", true, false)
	f.Add(`int(ticket.fields["Risk"]) > 1`, ``, "", uint8(2), uint8(4), "Approval", "", "", true, true)
	f.Add(`event ==`, `(`, "x", uint8(1), uint8(7), "", "", "", false, false)
	f.Add(`split(trigger.args, " ")[3] == "x"`, `^a`, "", uint8(3), uint8(1), "Open request", "", "a b", false, true)
	f.Add(`ticket.subject`, `.*`, "Risk Review", uint8(1), uint8(1), "Approval", "Risk Review", "", true, false)
	f.Add("0", "0(\n", "0", uint8(1), uint8(1), "0", "0", "0", true, false) // a regexp error must stay on one line
	f.Fuzz(func(t *testing.T, when, args, step string, point, ev uint8, cur, done, trigArgs string, enriched, cont bool) {
		points := []string{config.PointInbound, config.PointOutbound, config.PointStep, config.PointWorkflow}
		trig := events.Triggers()
		fuzzed := config.Route{
			Name: "fuzz", When: when, Continue: cont,
			On: config.RouteOn{Point: points[int(point)%len(points)], Step: step, Args: args},
		}
		routes := []config.Route{
			{Name: "wf"},
			fuzzed,
			{Name: "out", On: config.RouteOn{Point: config.PointOutbound}},
		}
		r, err := dispatcher.CompileRoutes(routes)
		if err != nil {
			for _, l := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(l, "routes[1] (fuzz).") && !strings.HasPrefix(l, " | ") {
					t.Fatalf("compile error line does not name the route: %q in\n%v", l, err)
				}
			}
			return
		}
		info := events.TicketInfo{ID: "1", Subject: when}
		if cur != "" {
			info.CurrentStage = &events.Stage{Name: cur}
		}
		if done != "" {
			info.CompletionStage = &events.Stage{Name: done}
		}
		in := dispatcher.MatchInput{Trigger: events.TriggerEvent{Event: trig[int(ev)%len(trig)], Ticket: info, Args: trigArgs}}
		if enriched {
			tk := securechange.Ticket{ID: "1", Workflow: securechange.Workflow{Name: "W"}}
			for _, name := range []string{done, cur} {
				if name != "" {
					tk.Steps = append(tk.Steps, securechange.Step{Name: name, Tasks: []securechange.Task{{Fields: []securechange.Field{
						{Name: "Risk", Type: "text_field", Text: trigArgs},
					}}}})
				}
			}
			in.Ticket = &tk
		}
		ms, err := r.Match(in)
		if err != nil {
			if !dispatcher.IsPermanent(err) || !strings.HasPrefix(err.Error(), "routes[1] (fuzz).when: ") || ms != nil {
				t.Fatalf("run-time error: permanent=%v matches=%d %v", dispatcher.IsPermanent(err), len(ms), err)
			}
			return
		}
		var wf, stepLevel, keep bool
		for _, m := range ms {
			if m.Point == config.PointWorkflow {
				wf = true
				if m.Step != "" {
					t.Errorf("workflow match with step %q", m.Step)
				}
				continue
			}
			stepLevel = true
			keep = keep || m.Route.Continue
			if m.Step == "" {
				t.Errorf("%s match without a step", m.Point)
			}
			if m.Route.On.Step != "" && m.Route.On.Step != m.Step {
				t.Errorf("route for step %q matched at %q", m.Route.On.Step, m.Step)
			}
		}
		if wf && stepLevel && !keep {
			t.Errorf("workflow-level and step-level matches without continue: %q", rtGot(ms))
		}
		if !wf && !stepLevel && len(ms) > 0 {
			t.Errorf("odd matches %q", rtGot(ms))
		}
		if !stepLevel && !wf {
			t.Errorf("the workflow route was dropped without a step-level match")
		}
	})
}
