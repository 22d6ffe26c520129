package securechange

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// Advance completes the current task (status DONE), which advances the ticket once
// every task of the step is done. It is success without a request when the ticket is
// closed or the current step's tasks are all done already. It completes whatever task
// is current when it runs: a redelivered Advance after the ticket moved on completes
// the next step's task too; AdvanceStep does not. A step with several open tasks
// (parallel handlers) is a permanent error: which one to complete is not ours to choose.
func (c *Client) Advance(ctx context.Context, ticketID string) error {
	return c.advance(ctx, ticketID, "")
}

// AdvanceStep is Advance pinned to the step named step: when the ticket's current step
// has another name (it moved on, was sent back, or closed) it is success without a
// request, so redelivering it does not advance the ticket twice. (A ticket that left
// the step and was redone back to it is at that step again, and is advanced.)
func (c *Client) AdvanceStep(ctx context.Context, ticketID, step string) error {
	if step == "" {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: advance: no step name given", ticketID))
	}
	return c.advance(ctx, ticketID, step)
}

func (c *Client) advance(ctx context.Context, ticketID, pinned string) error {
	const op = "advance"
	t, err := c.read(ctx, ticketID, op)
	if err != nil {
		return err
	}
	step, ok := currentStep(t)
	if !ok {
		c.log.Debug("securechange: advance: the ticket is closed, nothing to do", "ticket", t.ID, "status", t.Status)
		return nil
	}
	if pinned != "" && step.Name != pinned {
		c.log.Debug("securechange: advance: the ticket is no longer at the step, nothing to do", "ticket", t.ID, "step", pinned, "current", step.Name)
		return nil
	}
	open := openTasks(step)
	switch {
	case len(open) == 0:
		c.log.Debug("securechange: advance: the current task is done already", "ticket", t.ID, "step", step.Name)
		return nil
	case len(open) > 1:
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: step %q has %d open tasks (%s); advance completes one task and cannot choose",
			t.ID, op, step.Name, len(open), taskNames(open)))
	}
	task := open[0]
	path, err := taskPath(t.ID, op, step, task)
	if err != nil {
		return err
	}
	body, err := doneTask(task)
	if err != nil {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %w", t.ID, op, err))
	}
	return c.put(ctx, t.ID, op, path, body)
}

// doneTask is the body of the PUT that completes task, the way Tufin's SDKs send it:
// the task as read with status DONE, {"task":{"id","name","status","fields":{"field":[…]}}},
// the fields as received (an empty list when the task has none).
func doneTask(task Task) (any, error) {
	fields := make([]map[string]json.RawMessage, 0, len(task.Fields))
	for _, f := range task.Fields {
		if f.ReadOnly { // never written back (pytos Step_Task.remove_read_only_fields)
			continue
		}
		m, err := rawField(f)
		if err != nil {
			return nil, err
		}
		fields = append(fields, m)
	}
	type fieldList struct {
		Field []map[string]json.RawMessage `json:"field"`
	}
	type doneTask struct {
		ID     json.RawMessage `json:"id"`
		Name   string          `json:"name"`
		Status string          `json:"status"`
		Fields fieldList       `json:"fields"`
	}
	id := json.RawMessage(task.ID) // digits, as SecureChange writes it
	if !validTicketID(task.ID) {
		id = jsonString(task.ID)
	}
	return map[string]doneTask{"task": {ID: id, Name: task.Name, Status: taskDone, Fields: fieldList{fields}}}, nil
}
