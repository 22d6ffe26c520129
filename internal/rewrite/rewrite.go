package rewrite

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Input is what the rewrite plugins are shown: the stored trigger, the ticket as
// fetched from SecureChange (nil when enrichment is off) and the plan the routes built.
// FirstRun is true on the trigger's first delivery; it is sent to a plugin as
// "firstrun" on that plugin's first run only (a rerun is never a first run).
type Input struct {
	Trigger  events.TriggerEvent
	Ticket   *securechange.Ticket
	Plan     events.Plan
	FirstRun bool
}

// Rewriter runs the rewrite plugins, in their configured order, over each plan, as the
// package documentation describes. It is safe for concurrent use.
type Rewriter struct {
	plugins []plugin
	log     *slog.Logger
	client  *http.Client
}

// Rewrite runs every plugin, in configured order, over in.Plan and returns the
// rewritten plan: a copy, in.Plan is not modified. The plan's Info gets the plugins'
// infomsg lines and the rewriter's notes (a refused removal of a mandatory operation,
// a rerun refused after max_runs). On error the plan returned is the plan as rewritten
// before the failing run, with the failing run's infomsg lines; the error is permanent
// or transient as the package documentation's Errors section says.
func (r *Rewriter) Rewrite(ctx context.Context, in Input) (events.Plan, error) {
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
func (r *Rewriter) runOnce(ctx context.Context, p *plugin, in Input, plan events.Plan, run int) (events.Plan, bool, error) {
	input, err := p.encode(&pluginRequest{
		Plugin: p.name, FirstRun: in.FirstRun && run == 1, Run: run,
		Trigger: &in.Trigger, Ticket: in.Ticket, Plan: &plan,
	})
	if err != nil {
		return plan, false, failure.Permanent(fmt.Errorf("rewrite plugin %q: encode input: %w", p.name, err))
	}

	start := time.Now()
	output, err := r.exchange(ctx, p, input)
	if err != nil {
		r.log.Warn("rewrite plugin failed", "plugin", p.name, "run", run, "trigger_id", plan.TriggerID, "duration", time.Since(start), "err", err)
		return plan, false, err
	}

	rep, err := p.decode(output)
	if !rep.ok {
		return plan, false, fmt.Errorf("rewrite plugin %q: %w%s", p.name, err, outputSnippet(output))
	}
	for _, m := range rep.Infomsg {
		plan.Info = append(plan.Info, fmt.Sprintf("plugin %q: %s", p.name, m))
	}
	switch {
	case rep.Errmsg != "" && rep.Retval != 0:
		return plan, false, failure.Permanent(fmt.Errorf("rewrite plugin %q: %s (retval %d)", p.name, rep.Errmsg, rep.Retval))
	case rep.Errmsg != "":
		return plan, false, failure.Permanent(fmt.Errorf("rewrite plugin %q: %s", p.name, rep.Errmsg))
	case rep.Retval != 0:
		return plan, false, failure.Permanent(fmt.Errorf("rewrite plugin %q: failed with retval %d", p.name, rep.Retval))
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

// exchange sends a plugin its input and returns its reply: a command run, or a POST.
func (r *Rewriter) exchange(ctx context.Context, p *plugin, input []byte) ([]byte, error) {
	if p.argv != nil {
		return r.runCommand(ctx, p, input)
	}
	return r.post(ctx, p, input)
}
