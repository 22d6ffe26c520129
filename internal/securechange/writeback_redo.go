package securechange

import (
	"context"
	"fmt"
	"strconv"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// Redo returns the ticket from its current task to the earlier step named toStep, with
// comment. The step is resolved by name among the steps before the current one (the
// latest occurrence; an unknown name is a permanent error listing them). When the
// ticket is at toStep already (a redelivered Redo) it is success without a request.
func (c *Client) Redo(ctx context.Context, ticketID, toStep, comment string) error {
	op := "redo to " + strconv.Quote(toStep)
	t, err := c.read(ctx, ticketID, op)
	if err != nil {
		return err
	}
	i, ok := currentIndex(t)
	if !ok {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the ticket is closed (status %q)", t.ID, op, t.Status))
	}
	step, earlier := t.Steps[i], t.Steps[:i]
	if step.Name == toStep {
		c.log.Debug("securechange: redo: the ticket is at the step already, nothing to do", "ticket", t.ID, "step", toStep)
		return nil
	}
	var target *Step
	for i := len(earlier) - 1; i >= 0; i-- {
		if earlier[i].Name == toStep {
			target = &earlier[i]
			break
		}
	}
	if target == nil {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: no earlier step has that name; earlier steps: %s (current: %q)",
			t.ID, op, stepNames(earlier), step.Name))
	}
	if target.ID == "" {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the step has no id in the ticket JSON", t.ID, op))
	}
	task, err := theOpenTask(t.ID, op, step)
	if err != nil {
		return err
	}
	path, err := taskPath(t.ID, op, step, task)
	if err != nil {
		return err
	}
	body := map[string]any{"redo_step_comment": map[string]string{"comment": comment}}
	return c.put(ctx, t.ID, op, path+"/redo/"+target.ID, body)
}
