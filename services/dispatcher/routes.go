package dispatcher

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// MatchInput is what a route can match on. Ticket is nil without a SecureChange
// connection (or when enrichment was not possible).
type MatchInput struct {
	Trigger events.TriggerEvent
	Ticket  *securechange.Ticket
}

// Match is a route that applies to a trigger, with the integration point and step it
// matched at. Step is the name of the step entered (inbound), left (outbound) or
// current (step); it is "" for a workflow-level match.
type Match struct {
	Route *config.Route // points into the Routes' own copy of the configuration
	Point string        // config.PointInbound, PointOutbound, PointStep or PointWorkflow
	Step  string
}

// Routes is a compiled, immutable list of routes, safe for concurrent use.
type Routes struct {
	routes []compiledRoute
}

type compiledRoute struct {
	route  *config.Route
	label  string           // "routes[2] (open-change)", for error messages
	events []events.Trigger // empty: any event
	args   *regexp.Regexp   // nil: any args
	when   *vm.Program      // nil: always
}

// RouteError is one problem of one route found by CompileRoutes. Its message is
// "routes[<index>] (<name>).<field>: <problem>", e.g.
// "routes[2] (open-change).when: unknown name tikcet (1:1) ...".
type RouteError struct {
	Index int    // position in the route list
	Name  string // the route's name
	Field string // "when", "on.args", "on.point" or "on.event[<i>]"
	Err   error
}

func (e *RouteError) Error() string {
	return routeLabel(e.Index, e.Name) + "." + e.Field + ": " + e.Err.Error()
}
func (e *RouteError) Unwrap() error { return e.Err }

func routeLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("routes[%d]", i)
	}
	return fmt.Sprintf("routes[%d] (%s)", i, name)
}

// CompileRoutes compiles every route, once: its `when` condition (expr-lang/expr,
// type-checked against the environment documented on env, so an unknown name, a
// syntax error or a condition that is not a boolean is an error here and not at run
// time) and its on.args regular expression (unanchored). It also checks on.point and
// the on.event names, and applies the on.point default of config.SetDefaults (step
// when on.step is set, else workflow) to routes that have none.
//
// The error is an errors.Join of one error per bad route; each problem is a
// *RouteError whose message names the route, e.g.
// "routes[2] (open-change).when: unknown name tikcet (1:1)". A route with several
// problems contributes an errors.Join of its *RouteErrors.
//
// The Routes keep their own copy of the route list; Match returns pointers into it.
func CompileRoutes(routes []config.Route) (*Routes, error) {
	own := slices.Clone(routes)
	r := &Routes{routes: make([]compiledRoute, len(own))}
	var errs []error
	for i := range own {
		rt := &own[i]
		c, bad := compileRoute(i, rt)
		r.routes[i] = c
		if len(bad) > 0 {
			errs = append(errs, errors.Join(bad...))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// compileRoute compiles one route; bad lists its problems as *RouteError.
func compileRoute(i int, rt *config.Route) (c compiledRoute, bad []error) {
	fail := func(field string, err error) {
		bad = append(bad, &RouteError{Index: i, Name: rt.Name, Field: field, Err: err})
	}
	c = compiledRoute{route: rt, label: routeLabel(i, rt.Name)}

	switch rt.On.Point {
	case "":
		rt.On.Point = config.PointWorkflow
		if rt.On.Step != "" {
			rt.On.Point = config.PointStep
		}
	case config.PointInbound, config.PointOutbound, config.PointStep:
	case config.PointWorkflow:
		if rt.On.Step != "" {
			fail("on.point", fmt.Errorf("workflow-level routes match no step, but on.step is %q (use inbound, outbound or step)", rt.On.Step))
		}
	default:
		fail("on.point", fmt.Errorf("%q is not one of %s, %s, %s, %s", rt.On.Point,
			config.PointInbound, config.PointOutbound, config.PointStep, config.PointWorkflow))
	}

	for j, name := range rt.On.Events {
		t, err := events.ParseTrigger(name)
		switch {
		case err != nil:
			fail(fmt.Sprintf("on.event[%d]", j), err)
		case !t.Published():
			fail(fmt.Sprintf("on.event[%d]", j), errors.New("TEST is never stored, so no route can match it"))
		default:
			c.events = append(c.events, t)
		}
	}

	if rt.On.Args != "" {
		re, err := regexp.Compile(rt.On.Args)
		if se := (*syntax.Error)(nil); errors.As(err, &se) {
			// Quoted, so that the message stays on one line.
			fail("on.args", fmt.Errorf("not a regular expression: %s: %q", se.Code, se.Expr))
		} else if err != nil {
			fail("on.args", fmt.Errorf("not a regular expression: %w", err))
		}
		c.args = re
	}

	if strings.TrimSpace(rt.When) != "" {
		p, err := expr.Compile(rt.When, expr.Env(env{}), expr.AsBool())
		if err != nil {
			fail("when", whenError(err))
		}
		c.when = p
	}
	return c, bad
}

// whenError is a `when` compilation error on one line: expr's message and its
// line:column in the condition, without the snippet that follows on other lines, and
// a hint for the usual mistakes.
func whenError(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	switch {
	case strings.HasPrefix(msg, `unexpected token Operator("=")`):
		msg += `: compare with ==`
	case strings.HasPrefix(msg, "unknown name "):
		msg += ": a condition can use event, workflow, enriched, ticket.*, step.* and trigger.*"
	}
	return errors.New(msg)
}

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

// env is what a route's `when` condition sees (expr-lang/expr). Every name is always
// present: an unknown value is "" (or false), never missing, so conditions do not
// fail on tickets that lack something. Names:
//
//	event                          string  the trigger: "CREATE", "ADVANCE", ...
//	workflow                       string  the enriched ticket's workflow name ("" without a ticket)
//	enriched                       bool    whether the full ticket was fetched from SecureChange
//	ticket.id                      string  ticket id (from the trigger's XML without a ticket)
//	ticket.subject                 string  subject (from the trigger's XML without a ticket)
//	ticket.requester               string  requester's user name
//	ticket.status                  string  e.g. "In Progress"
//	ticket.priority                string  e.g. "Normal"
//	ticket.fields                  map[string]string  the value (securechange.Ticket.Value) of every field of
//	                                       the current step's tasks by field name, the first one when
//	                                       names repeat; a missing name gives ""
//	ticket.previous_step           string  steps[len-2]'s name
//	ticket.current_step            string  current_step's name ("" once the ticket is closed)
//	step.entered, step.left, step.in  string  the steps of the integration-point table (stepsOf)
//	trigger.args, trigger.script   string  the mediator's args and script
//	trigger.current_stage, trigger.completion_stage, trigger.open_request_stage
//	                               string  the stage names in the trigger's XML
//
// For example: ticket.fields["Risk"] == "High" && step.left == "Approval".
type env struct {
	Event    string     `expr:"event"`
	Workflow string     `expr:"workflow"`
	Enriched bool       `expr:"enriched"`
	Ticket   ticketEnv  `expr:"ticket"`
	Step     stepEnv    `expr:"step"`
	Trigger  triggerEnv `expr:"trigger"`
}

type ticketEnv struct {
	ID           string            `expr:"id"`
	Subject      string            `expr:"subject"`
	Requester    string            `expr:"requester"`
	Status       string            `expr:"status"`
	Priority     string            `expr:"priority"`
	Fields       map[string]string `expr:"fields"`
	PreviousStep string            `expr:"previous_step"`
	CurrentStep  string            `expr:"current_step"`
}

type stepEnv struct {
	Entered string `expr:"entered"`
	Left    string `expr:"left"`
	In      string `expr:"in"`
}

type triggerEnv struct {
	Args             string `expr:"args"`
	Script           string `expr:"script"`
	CurrentStage     string `expr:"current_stage"`
	CompletionStage  string `expr:"completion_stage"`
	OpenRequestStage string `expr:"open_request_stage"`
}

// noFields is the fields map of a ticket without fields; never written.
var noFields = map[string]string{}

func newEnv(in MatchInput, pos position) *env {
	info := in.Trigger.Ticket
	e := &env{
		Event: string(in.Trigger.Event),
		Ticket: ticketEnv{
			ID:      info.ID,
			Subject: info.Subject,
			Fields:  noFields,
		},
		Step: stepEnv{Entered: pos.entered, Left: pos.left, In: pos.in},
		Trigger: triggerEnv{
			Args:             in.Trigger.Args,
			Script:           in.Trigger.Script,
			CurrentStage:     stageName(info.CurrentStage),
			CompletionStage:  stageName(info.CompletionStage),
			OpenRequestStage: stageName(info.OpenRequestStage),
		},
	}
	t := in.Ticket
	if t == nil {
		return e
	}
	e.Enriched = true
	e.Workflow = t.Workflow.Name
	e.Ticket.ID = cmp.Or(t.ID, info.ID)
	e.Ticket.Subject = cmp.Or(t.Subject, info.Subject)
	e.Ticket.Requester = t.Requester
	e.Ticket.Status = t.Status
	e.Ticket.Priority = t.Priority
	if prev, ok := t.PreviousStep(); ok {
		e.Ticket.PreviousStep = prev.Name
	}
	if t.CurrentStep != nil {
		e.Ticket.CurrentStep = t.CurrentStep.Name
	}
	if f := currentFields(t); len(f) > 0 {
		e.Ticket.Fields = f
	}
	return e
}

// currentFields returns the value of every field of the current step's tasks (the
// latest step named current_step, else the latest step), the first one per name.
func currentFields(t *securechange.Ticket) map[string]string {
	if len(t.Steps) == 0 {
		return nil
	}
	step := t.Steps[len(t.Steps)-1]
	if t.CurrentStep != nil && t.CurrentStep.Name != "" {
		if s, ok := t.StepByName(t.CurrentStep.Name); ok {
			step = s
		}
	}
	// Ticket.Value looks in the latest step, so look at a ticket of this step alone.
	view := securechange.Ticket{Steps: []securechange.Step{step}}
	var out map[string]string
	for _, task := range step.Tasks {
		for _, f := range task.Fields {
			if _, dup := out[f.Name]; dup {
				continue
			}
			if out == nil {
				out = make(map[string]string)
			}
			out[f.Name], _ = view.Value(f.Name)
		}
	}
	return out
}
