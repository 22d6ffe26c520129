package securechange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
)

// maxWriteRetryAfter caps the Retry-After a failed write carries to the caller.
const maxWriteRetryAfter = 10 * time.Minute

// taskDone is the status of a completed task in SecureChange's ticket JSON.
const taskDone = "DONE"

// The write-backs. Each reads the ticket first (Ticket, with its retries) to find the
// current step, task and fields, then makes ONE write request that is not retried here:
// the caller retries through JetStream, honouring failure.RetryAfter.
//
// REST shapes, and where they come from (all paths below the API base
// …/securechangeworkflow/api/securechange, JSON bodies, Accept: application/json):
//
//	PUT tickets/{id}/steps/{step}/tasks/{task}/fields
//	    {"fields":{"field":[{"@xsi.type":…,"id":…,"name":…,<value keys>}]}}
//	    Seed 000's custom script (update_field): it GETs tickets/{id}.json, takes the
//	    field object as returned, changes its value key and PUTs it back in this
//	    wrapper (it writes ".../fields/", with a trailing slash); Tufin's pytos2
//	    ScwAPI.put_fields and the REST API's "change multiple fields within a task"
//	    use the path without the slash, as here. The value keys per type are those of
//	    the GET (FieldTypes): text, value, url, selection, selected_options,
//	    approved and reason; everything else in the field object is sent back unchanged.
//	PUT tickets/{id}/steps/{step}/tasks/{task}
//	    {"task":{"id":…,"name":…,"status":"DONE","fields":{"field":[…]}}}
//	    The task as the SDKs send it: pytos Secure_Change_Helper.put_task after
//	    Step_Task.mark_as_done() PUTs the whole task as read (id, name, status DONE,
//	    fields; its "approve ticket" example), and pytos2 sends
//	    {"task":{id, name, status, fields}} with "fields" always present. The fields
//	    are the task's field objects as read, but for the read-only ones (Field.Raw, as UpdateFields
//	    sends them back) in {"field":[…]}, read in the same call just before the PUT.
//	PUT tickets/{id}/steps/{step}/tasks/{task}/redo/{to_step_id}
//	    {"redo_step_comment":{"comment":…}}    pytos redo_step, pytos2 ScwAPI.redo_step
//	PUT tickets/{id}/reject[?handler_id={user}]   {"reject_comment":{"comment":…}}
//	    pytos2 ScwAPI.reject_ticket (its tests mock …/tickets/288/reject?handler_id=45
//	    for a reject on behalf of user 45); the REST API's "reject a ticket". pytos
//	    Secure_Change_Helper.reject_ticket(ticket_id, comment, handler_id) sends the
//	    same handler as ?requester_id=; handler_id is the newer API's name.
//	POST tickets/{id}/steps/{step}/tasks/{task}/comments   {"comment":{"content":…}}
//	    pytos2-CE Scw.add_comment (AddComment, writeback_comment.go)
//	POST tickets   {"ticket":{…, "steps":{"step":[the first step]}}} → 201, Location
//	    pytos Secure_Change_Helper.post_ticket, pytos2-CE Scw.create_ticket
//	    (CreateTicket, writeback_create.go)
//
// A step-bound write given an expected step (ApproveRejectAt, UpdateFieldsAt,
// AddCommentAt) is not made once the ticket left that step: ErrNotAtStep.
//
// Errors of the write request: network errors, timeouts, 408, 429 and 5xx are transient
// and carry the server's Retry-After (at most 10m) through failure.WithRetryAfter;
// 401/403 are transient and wrap ErrAccess; a redirect and an unverified certificate
// are transient (an admin fixes the URL or the CA); 404, 400 and other 4xx are
// failure.Permanent. Problems found in the ticket itself (an unknown field, option or
// step, a closed ticket) are permanent. Every error names the ticket and the operation;
// those of a response name the HTTP status and quote at most 200 bytes of its body,
// secrets stripped.

// read fetches the ticket for op.
func (c *Client) read(ctx context.Context, ticketID, op string) (Ticket, error) {
	t, err := c.Ticket(ctx, ticketID)
	if err != nil {
		return Ticket{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

// locateTask reads the ticket and finds the current step (which must be named
// expected, unless that is "": stepOf) and the one open task of it that want accepts;
// when none does, why(open tasks) explains it. Errors are permanent (besides those of
// reading).
func (c *Client) locateTask(ctx context.Context, ticketID, op, expected string, want func(Task) bool, why func([]Task) string) (Ticket, Step, Task, error) {
	t, err := c.read(ctx, ticketID, op)
	if err != nil {
		return t, Step{}, Task{}, err
	}
	step, err := stepOf(t, op, expected)
	if err != nil {
		return t, step, Task{}, err
	}
	open := openTasks(step)
	if len(open) == 0 {
		return t, step, Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: every task of the current step %q is done", t.ID, op, step.Name))
	}
	var match []Task
	for _, tk := range open {
		if want(tk) {
			match = append(match, tk)
		}
	}
	switch {
	case len(match) == 1:
		return t, step, match[0], nil
	case len(match) > 1:
		return t, step, Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %d open tasks of step %q qualify (%s); cannot choose",
			t.ID, op, len(match), step.Name, taskNames(match)))
	}
	return t, step, Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: step %q: %s", t.ID, op, step.Name, why(open)))
}

// putFields PUTs fields into task.
func (c *Client) putFields(ctx context.Context, ticketID, op string, step Step, task Task, fields []map[string]json.RawMessage) error {
	path, err := taskPath(ticketID, op, step, task)
	if err != nil {
		return err
	}
	body := map[string]any{"fields": map[string]any{"field": fields}}
	return c.put(ctx, ticketID, op, path+"/fields", body)
}

// put makes one PUT of body, as JSON, to the API base + path and classifies the outcome.
func (c *Client) put(ctx context.Context, ticketID, op, path string, body any) error {
	_, err := c.send(ctx, ticketWrite(http.MethodPut, ticketID, op, path, body))
	return err
}

// ticketWrite is a write to an existing ticket.
func ticketWrite(method, ticketID, op, path string, body any) writeReq {
	return writeReq{
		method: method, path: path, body: body,
		what:     fmt.Sprintf("ticket %s: %s", ticketID, op),
		notFound: "the ticket, step or task no longer exists, or securechange.url is wrong",
		denied:   "that the user may handle this ticket's step",
	}
}

// writeReq is one write request: its method, path below the API base and JSON body,
// and for its errors what it is ("ticket 7: approve", which follows "securechange: "),
// what a 404 may mean and what a 403 asks to check.
type writeReq struct {
	method, path string
	body         any
	what         string
	notFound     string
	denied       string
}

// send makes the one request of a write (never retried here) and classifies its
// outcome as the package documentation above says; on a 2xx it returns the response
// headers (CreateTicket reads Location).
func (c *Client) send(ctx context.Context, w writeReq) (http.Header, error) {
	prefix := "securechange: " + w.what
	payload, err := json.Marshal(w.body)
	if err != nil { // maps and structs of strings and raw JSON from a decoded ticket: cannot happen
		return nil, failure.Permanent(fmt.Errorf("%s: %w", prefix, err))
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, w.method, c.base+w.path, bytes.NewReader(payload))
	if err != nil { // the base URL was validated and the ids are digits: cannot happen
		return nil, failure.Permanent(fmt.Errorf("%s: %w", prefix, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(c.user, c.pass.Reveal())

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.writeTransportError(ctx, actx, prefix, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		_ = resp.Body.Close()
	}()
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		c.log.Debug("securechange: write-back done", "write", w.what, "status", code, "took", time.Since(start))
		return resp.Header, nil
	}
	return nil, c.writeStatusError(resp, prefix, w)
}

// writeStatusError classifies a write's answer other than 2xx.
func (c *Client) writeStatusError(resp *http.Response, prefix string, w writeReq) error {
	code := resp.StatusCode
	status := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	errBody, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyRead))
	quoted := c.quote(errBody)
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		hint := "check securechange.user and securechange.password_env / securechange.password_file"
		if code == http.StatusForbidden {
			hint += ", and " + w.denied + " (SecureChange: \"Create and handle tickets on behalf of another user (via API only)\")"
		}
		return fmt.Errorf("%s: %s: %w; %s%s", prefix, status, ErrAccess, hint, quoted)
	case code >= 300 && code < 400:
		loc := ""
		if l, err := resp.Location(); err == nil {
			loc = " to " + strconv.Quote(l.Redacted())
		}
		return fmt.Errorf("%s: %s: redirect%s not followed; check securechange.url (e.g. https, the full path .../securechangeworkflow/api/securechange)%s",
			prefix, status, loc, quoted)
	case failure.TransientStatus(code):
		err := fmt.Errorf("%s: %s%s", prefix, status, quoted)
		if d, ok := egress.RetryAfter(resp.Header.Get("Retry-After"), time.Now(), maxWriteRetryAfter); ok {
			err = failure.WithRetryAfter(err, d)
		}
		return err
	case code == http.StatusNotFound:
		return failure.Permanent(fmt.Errorf("%s: %s (%s)%s", prefix, status, w.notFound, quoted))
	}
	return failure.Permanent(fmt.Errorf("%s: %s%s", prefix, status, quoted))
}

// writeTransportError classifies an error from http.Client.Do for a write: transient.
func (c *Client) writeTransportError(ctx, actx context.Context, prefix string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", prefix, ctx.Err())
	case actx.Err() != nil:
		return fmt.Errorf("%s: no response within %s (securechange.timeout); the write may or may not have happened", prefix, c.timeout)
	case isCertError(err):
		return fmt.Errorf("%s: SecureChange's TLS certificate was not accepted; check securechange.tls.ca_file: %w", prefix, err)
	}
	return fmt.Errorf("%s: %w", prefix, err) // *url.Error: names the URL, which holds no credentials
}
