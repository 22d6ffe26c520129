package dispatcher

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/expr-lang/expr/vm"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Match returns the routes that apply to the trigger, in config order, after the
// precedence rule. A route applies when all of these hold:
//
//  1. workflow: the route names none, or the enriched ticket's workflow name equals
//     it. Without a ticket the workflow is unknown, so a route that names one does
//     not apply.
//  2. on.event: empty, or it lists the trigger's event.
//  3. on.script equals the mediator's script, and on.args matches (unanchored) the
//     mediator's args, when they are set.
//  4. on.point and on.step match where the trigger happened, below.
//  5. when: empty, or true (see env for what it can use).
//
// Where a trigger happened (the step entered, the step left, the step it happened
// in; stepsOf):
//
//	event     with the enriched ticket (steps = Steps)        without a ticket (XML ticket_info)
//	CREATE    entered = steps[0]                               entered = current_stage, else open_request_stage
//	ADVANCE   left = steps[len-2], entered = steps[len-1]      left = completion stage if present, else current_stage;
//	                                                           entered = current_stage only if a completion stage is present
//	REDO      left = steps[len-2], entered = steps[len-1]      entered = current_stage; left = completion stage if present
//	others    none entered or left                             none entered or left
//	in        current_step, else steps[len-1]                  current_stage
//
// and which routes that admits (Match.Step is the step named):
//
//	inbound   a step was entered (WFI Inbound); on.step empty or its name
//	outbound  a step was left (WFI Outbound); on.step empty or its name
//	step      the "in" step is known and the event happens within a step (WFI Step
//	          trigger): any event but CREATE, ADVANCE and REDO, which enter and
//	          leave steps; on.step empty or its name
//	workflow  any event (WFI workflow-level trigger); Match.Step is ""
//
// Precedence, as in WFI: when any step-level route (inbound, outbound, step)
// applies, the workflow-level routes are dropped, unless one of the step-level
// routes that apply has continue: true.
//
// The error is non-nil only when a `when` fails at run time; it names every route
// whose condition failed and is Permanent (a condition that cannot be evaluated on
// this ticket will not start working on retry). No matches are returned with it.
func (r *Routes) Match(in MatchInput) ([]Match, error) {
	if r == nil || len(r.routes) == 0 {
		return nil, nil
	}
	ev := in.Trigger.Event
	pos := stepsOf(ev, in.Trigger.Ticket, in.Ticket)
	workflow := ""
	if in.Ticket != nil {
		workflow = in.Ticket.Workflow.Name
	}

	var (
		matches   []Match
		errs      []error
		e         *env // built on first use
		machine   vm.VM
		stepLevel bool
		keepWF    bool
	)
	for i := range r.routes {
		c := &r.routes[i]
		rt := c.route
		if rt.Workflow != "" && (in.Ticket == nil || rt.Workflow != workflow) {
			continue
		}
		if len(c.events) > 0 && !slices.Contains(c.events, ev) {
			continue
		}
		if rt.On.Script != "" && rt.On.Script != in.Trigger.Script {
			continue
		}
		if c.args != nil && !c.args.MatchString(in.Trigger.Args) {
			continue
		}
		step, ok := pos.at(rt.On.Point, rt.On.Step, ev)
		if !ok {
			continue
		}
		if c.when != nil {
			if e == nil {
				e = newEnv(in, pos)
			}
			out, err := machine.Run(c.when, e)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.when: %w", c.label, err))
				continue
			}
			b, isBool := out.(bool)
			if !isBool {
				errs = append(errs, fmt.Errorf("%s.when: the condition gave %T, not a boolean", c.label, out))
				continue
			}
			if !b {
				continue
			}
		}
		if rt.On.Point != config.PointWorkflow {
			stepLevel = true
			keepWF = keepWF || rt.Continue
		}
		matches = append(matches, Match{Route: rt, Point: rt.On.Point, Step: step})
	}
	if len(errs) > 0 {
		return nil, Permanent(errors.Join(errs...))
	}
	if stepLevel && !keepWF {
		matches = slices.DeleteFunc(matches, func(m Match) bool { return m.Point == config.PointWorkflow })
	}
	return matches, nil
}

// position is where in the workflow a trigger happened: the names of the step it
// entered, the step it left and the step it happened in; "" is unknown or none.
type position struct {
	entered, left, in string
}

// stepsOf determines, for a trigger, which step was entered, which was left and
// which step it happened in. This is the whole table (also in Match's doc; position.at
// and withinStep turn it into integration points):
//
//	event     with the enriched ticket (steps = Steps)        without a ticket (XML ticket_info)
//	CREATE    entered = steps[0]                               entered = current_stage, else open_request_stage
//	ADVANCE   left = steps[len-2], entered = steps[len-1]      left = completion stage if present, else current_stage;
//	                                                           entered = current_stage only if a completion stage is present
//	REDO      left = steps[len-2], entered = steps[len-1]      entered = current_stage; left = completion stage if present
//	others    none entered or left                             none entered or left
//	in        current_step, else steps[len-1]                  current_stage
//
// On ADVANCE the seed's custom script treats the XML's current_stage as the step
// just left and compares it with steps[-2]; the enriched step list is preferred
// because it also knows the step entered.
func stepsOf(ev events.Trigger, info events.TicketInfo, t *securechange.Ticket) position {
	var p position
	if t != nil {
		n := len(t.Steps)
		if n == 0 {
			return p
		}
		switch ev {
		case events.Create:
			p.entered = t.Steps[0].Name
		case events.Advance, events.Redo:
			p.entered = t.Steps[n-1].Name
			if n >= 2 {
				p.left = t.Steps[n-2].Name
			}
		}
		p.in = t.Steps[n-1].Name
		if t.CurrentStep != nil && t.CurrentStep.Name != "" {
			p.in = t.CurrentStep.Name
		}
		return p
	}
	cur, done, open := stageName(info.CurrentStage), stageName(info.CompletionStage), stageName(info.OpenRequestStage)
	switch ev {
	case events.Create:
		p.entered = cmp.Or(cur, open)
	case events.Advance:
		if done != "" {
			p.left, p.entered = done, cur
		} else {
			p.left = cur
		}
	case events.Redo:
		p.entered, p.left = cur, done
	}
	p.in = cur
	return p
}

// withinStep reports whether a trigger of event ev happens within a step (a WFI
// step trigger) rather than entering or leaving one: every event but CREATE,
// ADVANCE and REDO.
func withinStep(ev events.Trigger) bool {
	return ev != events.Create && ev != events.Advance && ev != events.Redo
}

// at reports whether a route at integration point point, for step name step (""
// any), matches a trigger of event ev at p, and the step it matched.
func (p position) at(point, step string, ev events.Trigger) (string, bool) {
	var s string
	switch point {
	case config.PointWorkflow:
		return "", true
	case config.PointInbound:
		s = p.entered
	case config.PointOutbound:
		s = p.left
	case config.PointStep:
		if !withinStep(ev) {
			return "", false
		}
		s = p.in
	default:
		return "", false
	}
	return s, s != "" && (step == "" || step == s)
}

func stageName(s *events.Stage) string {
	if s == nil {
		return ""
	}
	return s.Name
}
