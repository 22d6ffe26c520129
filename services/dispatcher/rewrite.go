package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Limits and defaults of plugin runs.
const (
	defaultPluginTimeout = 10 * time.Second
	defaultPluginMaxRuns = 3
	// maxPluginOutput bounds a plugin's reply (stdout or response body).
	maxPluginOutput = 8 << 20
	// maxPluginStderr is how much of a plugin's stderr (or an HTTP error body) is kept
	// for error messages.
	maxPluginStderr = 2 << 10
	// pluginWaitDelay is how long a run waits, after the plugin process exited or was
	// killed, for a leftover child that still holds its stdout or stderr open.
	pluginWaitDelay = 2 * time.Second
	// noGroup is the seed's "no approval group" value.
	noGroup = "00000000-0000-0000-0000-000000000000"
)

// RewriteInput is what the rewrite plugins are shown: the stored trigger, the ticket
// as fetched from SecureChange (nil when enrichment is off) and the plan the routes
// built. FirstRun is true on the trigger's first delivery; it is sent to a plugin as
// "firstrun" on that plugin's first run only (a rerun is never a first run).
type RewriteInput struct {
	Trigger  events.TriggerEvent
	Ticket   *securechange.Ticket
	Plan     events.Plan
	FirstRun bool
}

// Rewriter runs the rewrite plugins of dispatcher.plugins, in their configured order,
// over each plan. It implements the request-rewrite contract of seed 004, with the
// plan's operations as the request's resources. It is safe for concurrent use.
//
// # Transport
//
// A plugin is either a command or an HTTP endpoint:
//
//   - command: argv is the configured command, run in a process group of its own with
//     the dispatcher's environment and working directory. The input is written to its
//     stdin, its reply is read from stdout (at most 8 MiB), stderr is captured (its first
//     2 KB go into error messages). At the plugin's timeout (default 10s) the whole
//     process group is killed with SIGKILL. A process still holding stdout or stderr
//     open 2s after the plugin exited or was killed makes the run fail. The command is
//     checked at start-up (NewRewriter): it must exist, be a regular file and be
//     executable; a bare name is looked up in PATH.
//   - url: the input is POSTed with Content-Type application/json (format json) or
//     text/plain; charset=utf-8 (format kvgroup); a 2xx response's body (at most 8 MiB)
//     is the reply. TLS certificates are verified against the system roots; redirects
//     are not followed.
//
// # Input (format kvgroup)
//
// One `"" "" = { … }` group, with the header `# KVGROUP-V1.1`:
//
//	# KVGROUP-V1.1
//	"" "" = {
//	  "module" = "triggerflow"
//	  "plugin" = "<plugin name>"
//	  "firstrun" = "true|false"    # the trigger's first delivery and this plugin's first run
//	  "run" = "<n>"                # 1 for the first run, 2 for the first rerun, …
//	  "trigger" "" = {
//	    "trigger_id" = "<trigger id>"
//	    "event" = "CREATE|ADVANCE|…"
//	    "ticket" = "<ticket id>"
//	    "subject" = "…"
//	    "args" = "…"               # the mediator's args
//	    "script" = "…"             # the mediator's EXEC_SCRIPT
//	    "create_date" = "…"        # as SecureChange sent them
//	    "update_date" = "…"
//	    "current_stage" "" = { "id" = "…" "name" = "…" }       # each stage only if sent
//	    "completion_stage" "" = { "id" = "…" "name" = "…" }
//	    "open_request_stage" "" = { "id" = "…" "name" = "…" }
//	  }
//	  "ticket" "" = {
//	    "enriched" = "true|false"  # false: SecureChange was not asked; only id and
//	                               # subject (from the trigger) are set
//	    "id" = "…"  "subject" = "…"  "workflow" = "…"  "workflow_id" = "…"
//	    "requester" = "…"  "requester_id" = "…"  "priority" = "…"  "status" = "…"
//	    "domain" = "…"  "current_step" = "…"
//	    "fields" "" = {            # the fields of the latest step, first of each name
//	      "<field name>" = "<value>"    # as securechange.Ticket.Value gives it
//	    }
//	  }
//	  "request" "" = {
//	    "id" = "<plan id>"
//	    "workflow" = "…"
//	    "resource" "<operation id>" = {   # one per operation, in plan order
//	      "kind" = "itsm|securechange|email"
//	      "target" = "<server name>|securechange|smtp"
//	      "route" = "<route name>|plugin:<plugin name>"
//	      "action" = "<action name>"
//	      "mandatory" = "true|false"
//	      "group" = "<approval group>"  # "" when none
//	      "spec" = "<the operation's spec, as a JSON text>"   # "" when none
//	      "attr" "" = { "<key>" = "<value>" … }               # sorted by key
//	    }
//	  }
//	}
//
// # Output (format kvgroup)
//
//	"" "" = {
//	  "retval" = "0"               # mandatory; non-zero is failure
//	  "errmsg" = "…"               # optional; non-empty is failure (repeatable)
//	  "infomsg" = "…"              # optional, repeatable; recorded in the plan's info
//	  "changed" = "true|false"     # default true; false: the request part is ignored
//	  "rerun" = "true|false|auto"  # default false
//	  "retainResources" = "true|false"   # default false
//	  "groupApproval" "" = {       # optional: approval groups
//	    "group" "<group name>" = { "resource" = "<operation id or action>" … }
//	  }
//	  "request" "" = {
//	    "resource" "<operation id>|<empty>" = {
//	      "remove" = "true"        # remove it ("removed" is read the same)
//	      "kind" "target" "action" "mandatory" "group" "spec" "attr"   # as in the input
//	      "groupApproval" = "<group name>"   # the seed's spelling of "group"
//	      "autoselect" = "true|mandatory|none|false"
//	    }
//	  }
//	}
//
// As in the seed's examples, "resource" groups may also stand directly in the top
// group instead of inside "request"; both places are read, top group first. Keys that
// are not listed here (the seed's "itemType", "password", …) are ignored.
//
// # Input and output (format json)
//
// The same structure as JSON objects. Input:
//
//	{"module": "triggerflow", "plugin": "<name>", "firstrun": true, "run": 1,
//	 "trigger": {"trigger_id": "…", "event": "…", "ticket": "…", "subject": "…",
//	             "args": "…", "script": "…", "create_date": "…", "update_date": "…",
//	             "current_stage": {"id": "…", "name": "…"}, …},
//	 "ticket": {"enriched": true, "id": "…", …, "fields": {"<name>": "<value>"}},
//	 "request": {"id": "<plan id>", "workflow": "…",
//	             "resources": [{"id": "…", "kind": "…", "target": "…", "route": "…",
//	                            "action": "…", "mandatory": false, "group": "",
//	                            "spec": {…}, "attrs": {"k": "v"}}]}}
//
// Output:
//
//	{"retval": 0, "errmsg": "", "infomsg": ["…"], "changed": true, "rerun": "auto",
//	 "retainResources": false,
//	 "groupApproval": [{"group": "g", "resources": ["<id or action>", …]}],
//	 "request": {"resources": [{"id": "…", "remove": true, "kind": "…", "target": "…",
//	             "action": "…", "mandatory": true, "group": "…", "spec": {…},
//	             "attrs": {…}, "autoselect": "true"}]}}
//
// In the output, booleans may also be the strings "true" and "false", retval a string
// of digits, infomsg and errmsg a single string or a list, rerun true, false or "auto",
// and spec a string holding the JSON object. A member that is null is taken as absent,
// except spec, where null clears the spec.
//
// # Semantics
//
// A resource with the id of an operation of the plan UPDATES it: each field present
// replaces the operation's (attr/attrs as a whole; spec "" or null clears it); absent
// fields are kept. route and action are an operation's identity and are never
// updated. A resource with an unknown id, or with no id, is ADDED: it needs a kind and,
// for itsm, a target (securechange and email default to the targets "securechange"
// and "smtp"); its route is "plugin:<plugin name>", its action the resource's "action"
// (default "<kind>-<n>", n its index in the reply), and, when the plugin gave no id,
// its id is events.OperationID(trigger id, "plugin:<plugin name>", action), so a rerun
// that returns the same resource updates it instead of adding it twice. Added
// operations get the plan's trigger id, ticket and event (every operation keeps them;
// plugins cannot change them).
//
//   - "changed" false: the plan is left as it is (resources and groupApproval ignored);
//     infomsg, errmsg, retval and rerun still count.
//   - "retainResources" true: only the returned resources are added, updated or removed.
//     false or absent: every operation that is not returned is removed. A plugin that
//     means to leave the plan alone must say changed=false or retainResources=true.
//   - "remove" true: the operation is removed.
//   - Mandatory operations are never removed by a plugin, whether asked with "remove"
//     or by not being returned, and never made optional: the refusal is logged and
//     noted in the plan's info ("plugin X tried to remove mandatory operation Y; kept").
//     A plugin may make an operation mandatory.
//   - groupApproval (the top-level list, or a resource's "group"/"groupApproval") sets
//     Operation.Group: operations sharing a group succeed or fail together. The seed's
//     "00000000-0000-0000-0000-000000000000" and "" clear it. A top-level entry names
//     operation ids, or the action of an operation this plugin added.
//   - "autoselect": in the seed, a resource the plugin selected on its own from ticket
//     attributes (rather than one the requester chose). Here every operation of the
//     plan is carried out, so it does not change what is done: "true" records the
//     selection as Attrs["autoselect"] = "true" (kept in the plan for auditors and
//     passed to templates); "mandatory" does the same and makes the operation
//     mandatory; "none", "false" and "" delete the attribute.
//   - "rerun": true runs the plugin again, auto runs it again only if this run changed
//     the plan, false (the default) moves on to the next plugin. A plugin runs at most
//     max_runs times (default 3) per trigger; a rerun asked for beyond that is not done
//     and is noted in the plan's info. A rerun sees the plan as rewritten so far.
//   - infomsg lines go to the plan's info as "plugin <name>: <message>".
//
// # Errors
//
// A non-empty errmsg or a non-zero retval fails the plan: a Permanent error naming the
// plugin and its message (the trigger is dead-lettered with that reason). So does an
// HTTP 4xx (except 408 and 429), a 3xx, and a reply that can be read but breaks the
// contract (an added resource without a kind, a spec that is not a JSON object, a
// groupApproval naming no operation, …). A timeout, a command that cannot be started,
// exits non-zero or dies by a signal, output that cannot be read (not KVGroup or JSON,
// no retval, more than 8 MiB), a network error and an HTTP 5xx, 408 or 429 are
// transient: the error names the plugin and the trigger is retried.
type Rewriter struct {
	plugins []plugin
	log     *slog.Logger
	client  *http.Client
}

// plugin is a checked config.Plugin.
type plugin struct {
	name    string
	argv    []string // argv[0] resolved; nil for an HTTP plugin
	url     string
	format  string // "kvgroup" or "json"
	timeout time.Duration
	maxRuns int
}

// NewRewriter checks the plugins (each command must exist and be executable; each url
// must be http or https) and applies the defaults of config.Plugin. Errors name the
// setting, dispatcher.plugins[i].…; all problems are reported at once.
func NewRewriter(plugins []config.Plugin, log *slog.Logger) (*Rewriter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Rewriter{
		log: log,
		client: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	var errs []error
	seen := map[string]bool{}
	for i, c := range plugins {
		path := fmt.Sprintf("dispatcher.plugins[%d]", i)
		bad := func(sub, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s%s: %s", path, sub, fmt.Sprintf(format, args...)))
		}
		p := plugin{name: c.Name, url: c.URL, format: c.Format, timeout: c.Timeout, maxRuns: c.MaxRuns}
		switch {
		case c.Name == "":
			bad(".name", "is required")
		case seen[c.Name]:
			bad(".name", "%q is listed twice", c.Name)
		}
		seen[c.Name] = true
		switch {
		case len(c.Command) > 0 && c.URL != "", len(c.Command) == 0 && c.URL == "":
			bad("", "set exactly one of command and url")
		case len(c.Command) > 0:
			exe, err := checkCommand(c.Command[0])
			if err != nil {
				bad(".command", "%v", err)
			}
			p.argv = append([]string{exe}, c.Command[1:]...)
		default:
			if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(".url", "%q is not an http(s) URL", c.URL)
			}
		}
		switch p.format {
		case "":
			p.format = "json"
			if len(c.Command) > 0 {
				p.format = "kvgroup"
			}
		case "kvgroup", "json":
		default:
			bad(".format", "%q is not kvgroup or json", c.Format)
		}
		switch {
		case p.timeout == 0:
			p.timeout = defaultPluginTimeout
		case p.timeout < 0:
			bad(".timeout", "%s must be positive", p.timeout)
		}
		switch {
		case p.maxRuns == 0:
			p.maxRuns = defaultPluginMaxRuns
		case p.maxRuns < 0:
			bad(".max_runs", "%d must be at least 1", p.maxRuns)
		}
		r.plugins = append(r.plugins, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// checkCommand resolves argv[0] as exec would and checks that it can be run.
func checkCommand(name string) (string, error) {
	if name == "" {
		return "", errors.New("command[0] is empty")
	}
	if !strings.Contains(name, "/") {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%q: not found in PATH", name)
		}
		return p, nil
	}
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q: %v", name, errors.Unwrap(err))
	case fi.IsDir():
		return "", fmt.Errorf("%q is a directory", name)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%q is not a regular file", name)
	case fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%q is not executable (mode %v)", name, fi.Mode().Perm())
	}
	if err := syscall.Access(name, 1 /* X_OK */); err != nil {
		return "", fmt.Errorf("%q is not executable by this process: %v", name, err)
	}
	return name, nil
}

// Rewrite runs every plugin, in configured order, over in.Plan and returns the
// rewritten plan: a copy, in.Plan is not modified. The plan's Info gets the plugins'
// infomsg lines and the rewriter's notes (a refused removal of a mandatory operation,
// a rerun refused after max_runs). On error the plan returned is the plan as rewritten
// before the failing run, with the failing run's infomsg lines; the error is Permanent
// (errmsg, non-zero retval, HTTP 4xx, a reply that breaks the contract) or transient
// (timeout, crash, unreadable output, HTTP 5xx, network), and names the plugin.
func (r *Rewriter) Rewrite(ctx context.Context, in RewriteInput) (events.Plan, error) {
	plan := clonePlan(in.Plan)
	stampOperations(&plan)
	for i := range r.plugins {
		p := &r.plugins[i]
		for run := 1; ; run++ {
			next, again, err := r.runOnce(ctx, p, in, plan, run)
			if err != nil {
				return next, err
			}
			plan = next
			if !again {
				break
			}
			if run >= p.maxRuns {
				note := fmt.Sprintf("plugin %q asked to run again after %d runs (max_runs %d); not rerun", p.name, run, p.maxRuns)
				r.log.Info("rewrite plugin rerun refused", "plugin", p.name, "runs", run, "trigger_id", plan.TriggerID)
				plan.Info = append(plan.Info, note)
				break
			}
		}
	}
	return plan, nil
}

// runOnce runs p once over plan and applies its reply. It returns the new plan (on
// error: plan with the run's infomsg lines) and whether p asked to run again.
func (r *Rewriter) runOnce(ctx context.Context, p *plugin, in RewriteInput, plan events.Plan, run int) (events.Plan, bool, error) {
	req := &pluginRequest{
		Plugin: p.name, FirstRun: in.FirstRun && run == 1, Run: run,
		Trigger: &in.Trigger, Ticket: in.Ticket, Plan: &plan,
	}
	var (
		input []byte
		err   error
	)
	if p.format == "json" {
		input, err = encodeJSONRequest(req)
	} else {
		input, err = encodeKVGroupRequest(req)
	}
	if err != nil {
		return plan, false, Permanent(fmt.Errorf("rewrite plugin %q: encode input: %w", p.name, err))
	}

	start := time.Now()
	var output []byte
	if p.argv != nil {
		output, err = r.runCommand(ctx, p, input)
	} else {
		output, err = r.post(ctx, p, input)
	}
	if err != nil {
		r.log.Warn("rewrite plugin failed", "plugin", p.name, "run", run, "trigger_id", plan.TriggerID, "duration", time.Since(start), "err", err)
		return plan, false, err
	}

	var rep reply
	if p.format == "json" {
		rep, err = decodeJSONReply(output)
	} else {
		rep, err = decodeKVGroupReply(output)
	}
	if !rep.ok {
		return plan, false, fmt.Errorf("rewrite plugin %q: %w%s", p.name, err, outputSnippet(output))
	}
	for _, m := range rep.Infomsg {
		plan.Info = append(plan.Info, fmt.Sprintf("plugin %q: %s", p.name, m))
	}
	switch {
	case rep.Errmsg != "" && rep.Retval != 0:
		return plan, false, Permanent(fmt.Errorf("rewrite plugin %q: %s (retval %d)", p.name, rep.Errmsg, rep.Retval))
	case rep.Errmsg != "":
		return plan, false, Permanent(fmt.Errorf("rewrite plugin %q: %s", p.name, rep.Errmsg))
	case rep.Retval != 0:
		return plan, false, Permanent(fmt.Errorf("rewrite plugin %q: failed with retval %d", p.name, rep.Retval))
	case err != nil:
		return plan, false, fmt.Errorf("rewrite plugin %q: %w", p.name, err)
	}

	changed := false
	if rep.Changed {
		next := clonePlan(plan)
		if err := r.apply(p, &next, &rep); err != nil {
			return plan, false, fmt.Errorf("rewrite plugin %q: %w", p.name, err)
		}
		changed = !operationsEqual(plan.Operations, next.Operations)
		plan = next
	}
	r.log.Debug("rewrite plugin ran", "plugin", p.name, "run", run, "trigger_id", plan.TriggerID,
		"duration", time.Since(start), "changed", changed, "rerun", rep.Rerun, "operations", len(plan.Operations))
	again := rep.Rerun == "true" || (rep.Rerun == "auto" && changed)
	return plan, again, nil
}

// apply merges a reply's resources and approval groups into plan (see Rewriter).
// Errors are Permanent: the reply breaks the contract.
func (r *Rewriter) apply(p *plugin, plan *events.Plan, rep *reply) error {
	route := "plugin:" + p.name
	ops := plan.Operations
	idx := make(map[string]int, len(ops))
	for i, op := range ops {
		idx[op.ID] = i
	}
	returned := map[string]bool{}
	removed := map[string]bool{}
	// refuse notes a refused change of a mandatory operation; format has the verbs
	// %[1]q (the plugin) and %[2]s (the operation).
	refuse := func(op *events.Operation, format string) {
		note := fmt.Sprintf(format, p.name, fmt.Sprintf("%s (route %q, action %q)", op.ID, op.Route, op.Action))
		r.log.Warn("rewrite plugin refused", "plugin", p.name, "trigger_id", plan.TriggerID, "operation", op.ID, "note", note)
		plan.Info = append(plan.Info, note)
	}
	for i := range rep.Resources {
		res := &rep.Resources[i]
		id, action := res.ID, deref(res.Action)
		if action == "" {
			kind := deref(res.Kind)
			if kind == "" {
				kind = "resource"
			}
			action = fmt.Sprintf("%s-%d", kind, i)
		}
		if id == "" {
			id = events.OperationID(plan.TriggerID, route, action)
		}
		returned[id] = true
		j, exists := idx[id]
		if res.Remove {
			switch {
			case !exists:
				r.log.Debug("rewrite plugin removed an unknown resource", "plugin", p.name, "operation", id)
			case ops[j].Mandatory:
				refuse(&ops[j], "plugin %[1]q tried to remove mandatory operation %[2]s; kept")
			default:
				removed[id] = true
			}
			continue
		}
		if exists {
			delete(removed, id)
			if err := updateOperation(&ops[j], res, func(op *events.Operation) {
				refuse(op, "plugin %[1]q tried to make mandatory operation %[2]s optional; kept mandatory")
			}); err != nil {
				return Permanent(fmt.Errorf("invalid output: resource %s: %w", id, err))
			}
			continue
		}
		op, err := newOperation(plan, id, route, action, res)
		if err != nil {
			return Permanent(fmt.Errorf("invalid output: added resource %s (action %q): %w", id, action, err))
		}
		ops = append(ops, op)
		idx[id] = len(ops) - 1
	}
	if !rep.RetainResources {
		for j := range ops {
			if op := &ops[j]; !returned[op.ID] {
				if op.Mandatory {
					refuse(op, "plugin %[1]q tried to remove mandatory operation %[2]s by not returning it (retainResources false); kept")
				} else {
					removed[op.ID] = true
				}
			}
		}
	}
	for _, g := range rep.GroupApproval {
		for _, ref := range g.Resources {
			j, ok := idx[ref]
			if !ok {
				j, ok = idx[events.OperationID(plan.TriggerID, route, ref)]
			}
			if !ok || removed[ops[j].ID] {
				return Permanent(fmt.Errorf("invalid output: groupApproval %q names %q, which is no operation of the plan", g.Group, ref))
			}
			ops[j].Group = normGroup(g.Group)
		}
	}
	kept := ops[:0]
	for _, op := range ops {
		if !removed[op.ID] {
			kept = append(kept, op)
		}
	}
	plan.Operations = kept
	stampOperations(plan)
	return nil
}

// updateOperation applies the fields a resource carries to op. refuse is called when
// the resource would make a mandatory operation optional.
func updateOperation(op *events.Operation, res *resourceReply, refuse func(*events.Operation)) error {
	if res.Kind != nil {
		if !validKind(*res.Kind) {
			return fmt.Errorf("kind %q is not itsm, securechange or email", *res.Kind)
		}
		op.Kind = events.OpKind(*res.Kind)
	}
	if res.Target != nil {
		if *res.Target == "" {
			return errors.New("target is empty")
		}
		op.Target = *res.Target
	}
	if res.Group != nil {
		op.Group = normGroup(*res.Group)
	}
	if res.Mandatory != nil {
		switch {
		case *res.Mandatory:
			op.Mandatory = true
		case op.Mandatory:
			refuse(op)
		}
	}
	if res.SpecSet && !specEqual(op.Spec, res.Spec) {
		op.Spec = res.Spec
	}
	if res.AttrsSet {
		op.Attrs = maps.Clone(res.Attrs)
	}
	applyAutoselect(op, res.Autoselect)
	if len(op.Attrs) == 0 {
		op.Attrs = nil
	}
	return nil
}

// newOperation builds the operation a resource with a new id adds.
func newOperation(plan *events.Plan, id, route, action string, res *resourceReply) (events.Operation, error) {
	op := events.Operation{ID: id, Route: route, Action: action}
	if res.Kind == nil || *res.Kind == "" {
		return op, errors.New("kind is required (itsm, securechange or email)")
	}
	if res.Target == nil || *res.Target == "" {
		switch events.OpKind(*res.Kind) {
		case events.OpSecureChange:
			op.Target = "securechange"
		case events.OpEmail:
			op.Target = "smtp"
		case events.OpITSM:
			return op, errors.New("target (the outbound server) is required for kind itsm")
		}
	}
	err := updateOperation(&op, res, func(*events.Operation) {})
	return op, err
}

func applyAutoselect(op *events.Operation, v *string) {
	if v == nil {
		return
	}
	switch *v {
	case "true", "mandatory":
		if op.Attrs == nil {
			op.Attrs = map[string]string{}
		}
		op.Attrs["autoselect"] = "true"
		if *v == "mandatory" {
			op.Mandatory = true
		}
	default: // "none", "false", "" (the decoders reject anything else)
		delete(op.Attrs, "autoselect")
	}
}

func validKind(k string) bool {
	switch events.OpKind(k) {
	case events.OpITSM, events.OpSecureChange, events.OpEmail:
		return true
	}
	return false
}

func validAutoselect(v string) bool {
	switch v {
	case "true", "mandatory", "none", "false", "":
		return true
	}
	return false
}

func normGroup(g string) string {
	if g == noGroup {
		return ""
	}
	return g
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// stampOperations gives every operation the plan's trigger id, ticket and event.
func stampOperations(p *events.Plan) {
	for i := range p.Operations {
		op := &p.Operations[i]
		op.TriggerID, op.Ticket, op.Event = p.TriggerID, p.Ticket, p.Event
	}
}

// clonePlan copies the parts of a plan a rewrite changes: Info and the operations.
func clonePlan(p events.Plan) events.Plan {
	p.Info = append([]string(nil), p.Info...)
	ops := make([]events.Operation, len(p.Operations))
	for i, op := range p.Operations {
		op.Attrs = maps.Clone(op.Attrs)
		if op.Spec != nil {
			op.Spec = append(json.RawMessage(nil), op.Spec...)
		}
		ops[i] = op
	}
	if p.Operations != nil {
		p.Operations = ops
	}
	return p
}

func operationsEqual(a, b []events.Operation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Kind != y.Kind || x.Target != y.Target || x.Route != y.Route ||
			x.Action != y.Action || x.TriggerID != y.TriggerID || x.Ticket != y.Ticket ||
			x.Event != y.Event || x.Mandatory != y.Mandatory || x.Group != y.Group ||
			!specEqual(x.Spec, y.Spec) || !maps.Equal(x.Attrs, y.Attrs) {
			return false
		}
	}
	return true
}

// specEqual compares two specs as JSON texts, ignoring insignificant white space.
func specEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// pluginRequest is what one run of a plugin is sent, before encoding.
type pluginRequest struct {
	Plugin   string
	FirstRun bool
	Run      int
	Trigger  *events.TriggerEvent
	Ticket   *securechange.Ticket // nil: not enriched
	Plan     *events.Plan
}

// kv is one key and value of the input, in order.
type kv struct{ k, v string }

func (q *pluginRequest) triggerPairs() []kv {
	e := q.Trigger
	return []kv{
		{"trigger_id", e.ID}, {"event", string(e.Event)}, {"ticket", e.Ticket.ID},
		{"subject", e.Ticket.Subject}, {"args", e.Args}, {"script", e.Script},
		{"create_date", e.Ticket.CreateDate}, {"update_date", e.Ticket.UpdateDate},
	}
}

type namedStage struct {
	key   string
	stage *events.Stage
}

func (q *pluginRequest) triggerStages() []namedStage {
	var out []namedStage
	for _, s := range []namedStage{
		{"current_stage", q.Trigger.Ticket.CurrentStage},
		{"completion_stage", q.Trigger.Ticket.CompletionStage},
		{"open_request_stage", q.Trigger.Ticket.OpenRequestStage},
	} {
		if s.stage != nil {
			out = append(out, s)
		}
	}
	return out
}

func (q *pluginRequest) ticketPairs() []kv {
	t := q.Ticket
	if t == nil {
		return []kv{{"enriched", "false"}, {"id", q.Trigger.Ticket.ID}, {"subject", q.Trigger.Ticket.Subject}}
	}
	step := ""
	if t.CurrentStep != nil {
		step = t.CurrentStep.Name
	}
	return []kv{
		{"enriched", "true"}, {"id", t.ID}, {"subject", t.Subject},
		{"workflow", t.Workflow.Name}, {"workflow_id", t.Workflow.ID},
		{"requester", t.Requester}, {"requester_id", t.RequesterID},
		{"priority", t.Priority}, {"status", t.Status}, {"domain", t.Domain},
		{"current_step", step},
	}
}

// ticketFields are the fields of the latest step, the first of each name, with their
// values as securechange.Ticket.Value gives them.
func (q *pluginRequest) ticketFields() []kv {
	t := q.Ticket
	if t == nil || len(t.Steps) == 0 {
		return nil
	}
	var out []kv
	seen := map[string]bool{}
	for _, task := range t.Steps[len(t.Steps)-1].Tasks {
		for _, f := range task.Fields {
			if f.Name == "" || seen[f.Name] {
				continue
			}
			seen[f.Name] = true
			v, _ := t.Value(f.Name)
			out = append(out, kv{f.Name, v})
		}
	}
	return out
}

// reply is a decoded plugin output, whatever its format.
type reply struct {
	ok              bool // retval was read: the header fields below are set
	Retval          int
	Errmsg          string   // errmsg lines joined by "; "
	Infomsg         []string // non-empty infomsg lines
	Changed         bool     // default true
	Rerun           string   // "true", "false" or "auto"
	RetainResources bool
	GroupApproval   []approvalGroup
	Resources       []resourceReply
}

type approvalGroup struct {
	Group     string
	Resources []string // operation ids, or actions of operations the plugin added
}

// resourceReply is one returned resource. Nil pointers (and false *Set) are absent
// fields.
type resourceReply struct {
	ID         string
	Remove     bool
	Kind       *string
	Target     *string
	Action     *string
	Group      *string
	Mandatory  *bool
	Autoselect *string
	SpecSet    bool
	Spec       json.RawMessage // nil: clear
	AttrsSet   bool
	Attrs      map[string]string
}

// unreadable is the (transient) error of an output that cannot be read at all.
func unreadable(format string, args ...any) error {
	return fmt.Errorf("unreadable output: "+format, args...)
}

// invalid is the (Permanent) error of an output that can be read but breaks the contract.
func invalid(format string, args ...any) error {
	return Permanent(fmt.Errorf("invalid output: "+format, args...))
}

// parseSpec checks a spec given as JSON text: an object, or "" / null to clear it.
func parseSpec(s []byte) (json.RawMessage, error) {
	s = bytes.TrimSpace(s)
	if len(s) == 0 || string(s) == "null" {
		return nil, nil
	}
	if s[0] != '{' {
		return nil, errors.New("spec is not a JSON object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, s); err != nil {
		return nil, fmt.Errorf("spec is not valid JSON: %v", err)
	}
	return json.RawMessage(b.Bytes()), nil
}

// compactJSON is raw without insignificant white space (raw itself if it is not JSON).
func compactJSON(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// parseBool reads a boolean value of the KVGroup format (and strings of the JSON one).
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

// parseRerun reads rerun: true, false or auto.
func parseRerun(s string) (string, bool) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "auto":
		return v, true
	case "":
		return "false", true
	default:
		b, ok := parseBool(v)
		return strconv.FormatBool(b), ok
	}
}

// runCommand runs an executable plugin.
func (r *Rewriter) runCommand(ctx context.Context, p *plugin, input []byte) ([]byte, error) {
	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, p.argv[0], p.argv[1:]...)
	cmd.Stdin = bytes.NewReader(input)
	stdout := &capBuffer{limit: maxPluginOutput}
	stderr := &capBuffer{limit: maxPluginStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The leader is not reaped yet, so its pid still names its process group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = pluginWaitDelay
	err := cmd.Run()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("rewrite plugin %q: %w", p.name, ctx.Err())
		case runCtx.Err() != nil:
			return nil, fmt.Errorf("rewrite plugin %q: timed out after %s; process group killed%s", p.name, p.timeout, stderr.snippet())
		}
		var ee *exec.ExitError
		switch {
		case errors.Is(err, exec.ErrWaitDelay):
			return nil, fmt.Errorf("rewrite plugin %q: a process it started kept its output open after it exited%s", p.name, stderr.snippet())
		case errors.As(err, &ee):
			how := fmt.Sprintf("exited with status %d", ee.ExitCode())
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				how = "was killed by signal " + ws.Signal().String()
			}
			return nil, fmt.Errorf("rewrite plugin %q: %s%s", p.name, how, stderr.snippet())
		default:
			return nil, fmt.Errorf("rewrite plugin %q: cannot run %s: %w", p.name, p.argv[0], err)
		}
	}
	if stdout.over {
		return nil, fmt.Errorf("rewrite plugin %q: unreadable output: more than %d bytes", p.name, maxPluginOutput)
	}
	if stderr.Len() > 0 {
		r.log.Debug("rewrite plugin stderr", "plugin", p.name, "stderr", stderr.snippet())
	}
	return stdout.Bytes(), nil
}

// post runs an HTTP plugin.
func (r *Rewriter) post(ctx context.Context, p *plugin, input []byte) ([]byte, error) {
	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(runCtx, http.MethodPost, p.url, bytes.NewReader(input))
	if err != nil {
		return nil, Permanent(fmt.Errorf("rewrite plugin %q: %w", p.name, err))
	}
	ct := "text/plain; charset=utf-8"
	if p.format == "json" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", ct)
	req.Header.Set("User-Agent", "triggerflow-dispatcher")
	timedOut := func(err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("rewrite plugin %q: %w", p.name, ctx.Err())
		case runCtx.Err() != nil:
			return fmt.Errorf("rewrite plugin %q: timed out after %s", p.name, p.timeout)
		}
		return fmt.Errorf("rewrite plugin %q: %w", p.name, err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, timedOut(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPluginOutput+1))
	if err != nil {
		return nil, timedOut(fmt.Errorf("read response: %w", err))
	}
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		if len(body) > maxPluginOutput {
			return nil, fmt.Errorf("rewrite plugin %q: unreadable output: more than %d bytes", p.name, maxPluginOutput)
		}
		return body, nil
	}
	msg := fmt.Errorf("rewrite plugin %q: HTTP %s%s", p.name, resp.Status, bodySnippet(body))
	if code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests {
		return nil, msg
	}
	return nil, Permanent(msg)
}

// capBuffer keeps the first limit bytes written to it and drops the rest, so a
// plugin that writes too much is never blocked on a full pipe.
type capBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); room < len(p) {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// snippet is the captured stderr for an error message: "" or "; stderr: …".
func (b *capBuffer) snippet() string {
	s := strings.TrimSpace(strings.ToValidUTF8(b.String(), "\uFFFD"))
	if s == "" {
		return ""
	}
	if b.over {
		s += " …"
	}
	return "; stderr: " + s
}

func bodySnippet(body []byte) string {
	if len(body) > maxPluginStderr {
		body = append(body[:maxPluginStderr:maxPluginStderr], " …"...)
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if s == "" {
		return ""
	}
	return ": " + s
}

// outputSnippet shows the start of an unreadable output in its error.
func outputSnippet(out []byte) string {
	if len(bytes.TrimSpace(out)) == 0 {
		return " (the output is empty)"
	}
	const n = 200
	s := out
	if len(s) > n {
		s = s[:n]
	}
	q := strconv.Quote(strings.ToValidUTF8(string(s), "\uFFFD"))
	if len(out) > n {
		q += "…"
	}
	return " (the output starts " + q + ")"
}
