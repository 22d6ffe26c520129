package securechange

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// UpdateFields writes values (by field name) into the fields of the current task, in
// one request. Each value is converted per the field's type:
//
//	text_field, text_area, manager  "text": the value
//	date, time          "value": the value ("2025-12-31", "14:30"), as pytos's
//	                    Step_Field_Date and Step_Field_Time hold it
//	hyperlink           "url": the value (pytos Step_Field_Hyperlink)
//	drop_down_list      "selection": one of the field's options (else an error naming
//	                    the field and its options); a case-insensitive match is
//	                    written as the option is spelled
//	checkbox            "value": true for true/yes/1, false for false/no/0
//	multiple_selection  "selected_options": a comma-separated list of options ("" for
//	                    none)
//	approve_reject      "approved" and "reason": "approve[: reason]" or
//	                    "reject[: reason]"
//
// The keys are those of FieldTypes. Any other type is a permanent error, as is
// a name that is not among the current task's fields (the error lists those that
// are), and a field marked read_only (pytos drops those before a write,
// Step_Task.remove_read_only_fields): nothing is sent.
func (c *Client) UpdateFields(ctx context.Context, ticketID string, values map[string]string) error {
	return c.UpdateFieldsAt(ctx, ticketID, "", values)
}

// UpdateFieldsAt is UpdateFields guarded by the step the ticket must be at: when its
// current step has another name, or it is closed, nothing is written and the error
// wraps ErrNotAtStep. step "" is UpdateFields.
func (c *Client) UpdateFieldsAt(ctx context.Context, ticketID, step string, values map[string]string) error {
	const op = "update fields"
	if len(values) == 0 {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: no fields given", ticketID, op))
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	t, cur, task, err := c.locateTask(ctx, ticketID, op, step,
		func(tk Task) bool { return hasFields(tk, names) },
		func(open []Task) string {
			var unknown []string
			for _, n := range names {
				found := false
				for _, tk := range open {
					found = found || hasFields(tk, []string{n})
				}
				if !found {
					unknown = append(unknown, strconv.Quote(n))
				}
			}
			if len(unknown) == 0 { // each exists, but in different parallel tasks
				return fmt.Sprintf("no single open task has all of the fields %s; the open tasks' fields: %s",
					quoteAll(names), fieldNames(open))
			}
			return fmt.Sprintf("no field %s in the current task; its fields: %s", strings.Join(unknown, ", "), fieldNames(open))
		})
	if err != nil {
		return err
	}
	var out []map[string]json.RawMessage
	written := map[string]bool{}
	for _, f := range task.Fields { // in the task's order
		v, ok := values[f.Name]
		if !ok || written[f.Name] { // a name used twice in a task is written once
			continue
		}
		written[f.Name] = true
		m, err := fieldWithValue(f, v)
		if err != nil {
			return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %w", t.ID, op, err))
		}
		out = append(out, m)
	}
	return c.putFields(ctx, t.ID, op, cur, task, out)
}

// ApproveReject sets the current task's approve_reject field: approved true or false,
// with reason. When the task has several, the first is used (UpdateFields writes one by
// name). A task without one is a permanent error.
func (c *Client) ApproveReject(ctx context.Context, ticketID string, approve bool, reason string) error {
	return c.ApproveRejectAt(ctx, ticketID, "", approve, reason)
}

// ApproveRejectAt is ApproveReject guarded by the step the ticket must be at: when its
// current step has another name, or it is closed, nothing is written and the error
// wraps ErrNotAtStep. step "" is ApproveReject.
func (c *Client) ApproveRejectAt(ctx context.Context, ticketID, step string, approve bool, reason string) error {
	op := "reject"
	if approve {
		op = "approve"
	}
	t, cur, task, err := c.locateTask(ctx, ticketID, op, step,
		func(tk Task) bool {
			_, ok := approveRejectField(tk)
			return ok
		},
		func(open []Task) string {
			return "the current task has no approve_reject field; its fields: " + fieldNames(open)
		})
	if err != nil {
		return err
	}
	f, _ := approveRejectField(task)
	if f.ReadOnly {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: field %q (approve_reject) is read-only", t.ID, op, f.Name))
	}
	m, err := rawField(f)
	if err != nil {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %w", t.ID, op, err))
	}
	setApproval(m, approve, reason)
	return c.putFields(ctx, t.ID, op, cur, task, []map[string]json.RawMessage{m})
}
