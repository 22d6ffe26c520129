package securechange

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// AddComment adds comment to the ticket, on its current step's open task:
//
//	POST tickets/{id}/steps/{step}/tasks/{task}/comments   {"comment":{"content":…}}
//
// as Tufin's pytos2-CE sends it (Scw.add_comment(ticket_id, step_id, task_id,
// comment_content), pytos2/securechange/entrypoint.py, and SecureChange's REST API
// "add a comment to a task"); SecureChange answers 201 and lists the comment in the
// ticket's "comments" ({content, created, task_name, type, user}, pytos rest.py
// Ticket_Comment). pytos (v1) has no call for it. When the step has several open tasks
// (parallel handlers) the comment goes on the first: it changes no task, so the choice
// does not matter. A closed ticket, a step whose tasks are all done and an empty
// comment are permanent errors; nothing is sent.
func (c *Client) AddComment(ctx context.Context, ticketID, comment string) error {
	return c.AddCommentAt(ctx, ticketID, "", comment)
}

// AddCommentAt is AddComment guarded by the step the ticket must be at: when its
// current step has another name, or it is closed, nothing is written and the error
// wraps ErrNotAtStep. step "" is AddComment.
func (c *Client) AddCommentAt(ctx context.Context, ticketID, step, comment string) error {
	const op = "add comment"
	if strings.TrimSpace(comment) == "" {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the comment is empty", ticketID, op))
	}
	t, err := c.read(ctx, ticketID, op)
	if err != nil {
		return err
	}
	cur, err := stepOf(t, op, step)
	if err != nil {
		return err
	}
	open := openTasks(cur)
	if len(open) == 0 {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: every task of the current step %q is done", t.ID, op, cur.Name))
	}
	path, err := taskPath(t.ID, op, cur, open[0])
	if err != nil {
		return err
	}
	body := map[string]any{"comment": map[string]string{"content": comment}}
	_, err = c.send(ctx, ticketWrite(http.MethodPost, t.ID, op, path+"/comments", body))
	return err
}
