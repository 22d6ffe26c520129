package dispatcher

import (
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
