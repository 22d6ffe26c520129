package securechange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/pkg/events"
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
//	    the GET (events.FieldTypes): text, value, url, selection, selected_options,
//	    approved and reason; everything else in the field object is sent back unchanged.
//	PUT tickets/{id}/steps/{step}/tasks/{task}
//	    {"task":{"id":…,"name":…,"status":"DONE","fields":{"field":[…]}}}
//	    The task as the SDKs send it: pytos Secure_Change_Helper.put_task after
//	    Step_Task.mark_as_done() PUTs the whole task as read (id, name, status DONE,
//	    fields; its "approve ticket" example), and pytos2 sends
//	    {"task":{id, name, status, fields}} with "fields" always present. The fields
//	    are the task's field objects as read, but for the read-only ones (events.Field.Raw, as UpdateFields
//	    sends them back) in {"field":[…]}, read in the same call just before the PUT.
//	PUT tickets/{id}/steps/{step}/tasks/{task}/redo/{to_step_id}
//	    {"redo_step_comment":{"comment":…}}    pytos redo_step, pytos2 ScwAPI.redo_step
//	PUT tickets/{id}/reject[?handler_id={user}]   {"reject_comment":{"comment":…}}
//	    pytos2 ScwAPI.reject_ticket (its tests mock …/tickets/288/reject?handler_id=45
//	    for a reject on behalf of user 45); the REST API's "reject a ticket". pytos
//	    Secure_Change_Helper.reject_ticket(ticket_id, comment, handler_id) sends the
//	    same handler as ?requester_id=; handler_id is the newer API's name.
//
// Errors of the write request: network errors, timeouts, 408, 429 and 5xx are transient
// and carry the server's Retry-After (at most 10m) through failure.WithRetryAfter;
// 401/403 are transient and wrap ErrAccess; a redirect and an unverified certificate
// are transient (an admin fixes the URL or the CA); 404, 400 and other 4xx are
// failure.Permanent. Problems found in the ticket itself (an unknown field, option or
// step, a closed ticket) are permanent. Every error names the ticket and the operation;
// those of a response name the HTTP status and quote at most 200 bytes of its body,
// secrets stripped.

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
// The keys are those of events.FieldTypes. Any other type is a permanent error, as is
// a name that is not among the current task's fields (the error lists those that
// are), and a field marked read_only (pytos drops those before a write,
// Step_Task.remove_read_only_fields): nothing is sent.
func (c *Client) UpdateFields(ctx context.Context, ticketID string, values map[string]string) error {
	const op = "update fields"
	if len(values) == 0 {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: no fields given", ticketID, op))
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	t, step, task, err := c.locateTask(ctx, ticketID, op,
		func(tk events.Task) bool { return hasFields(tk, names) },
		func(open []events.Task) string {
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
	return c.putFields(ctx, t.ID, op, step, task, out)
}

// ApproveReject sets the current task's approve_reject field: approved true or false,
// with reason. When the task has several, the first is used (UpdateFields writes one by
// name). A task without one is a permanent error.
func (c *Client) ApproveReject(ctx context.Context, ticketID string, approve bool, reason string) error {
	op := "reject"
	if approve {
		op = "approve"
	}
	t, step, task, err := c.locateTask(ctx, ticketID, op,
		func(tk events.Task) bool {
			_, ok := approveRejectField(tk)
			return ok
		},
		func(open []events.Task) string {
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
	return c.putFields(ctx, t.ID, op, step, task, []map[string]json.RawMessage{m})
}

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
func doneTask(task events.Task) (any, error) {
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
	var target *events.Step
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

// RejectTicket rejects the whole ticket with comment. A ticket rejected already is
// success without a request; one closed otherwise is a permanent error.
func (c *Client) RejectTicket(ctx context.Context, ticketID, comment string) error {
	return c.RejectTicketAs(ctx, ticketID, comment, "")
}

// RejectTicketAs is RejectTicket on behalf of the SecureChange user handlerID (sent as
// ?handler_id=, as pytos2's reject_ticket does); "" is RejectTicket. A handler id that is
// not a number is a permanent error.
func (c *Client) RejectTicketAs(ctx context.Context, ticketID, comment, handlerID string) error {
	const op = "reject ticket"
	query := ""
	if handlerID != "" {
		if !validTicketID(handlerID) { // user ids are numbers too
			return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: handler id %s is not a number", ticketID, op, quoteID(handlerID)))
		}
		query = "?handler_id=" + handlerID
	}
	t, err := c.read(ctx, ticketID, op)
	if err != nil {
		return err
	}
	if isRejected(t.Status) {
		c.log.Debug("securechange: reject ticket: rejected already, nothing to do", "ticket", t.ID)
		return nil
	}
	if _, ok := currentStep(t); !ok {
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the ticket is closed (status %q)", t.ID, op, t.Status))
	}
	body := map[string]any{"reject_comment": map[string]string{"comment": comment}}
	return c.put(ctx, t.ID, op, "/tickets/"+t.ID+"/reject"+query, body)
}

// read fetches the ticket for op.
func (c *Client) read(ctx context.Context, ticketID, op string) (events.Ticket, error) {
	t, err := c.Ticket(ctx, ticketID)
	if err != nil {
		return events.Ticket{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

// locateTask reads the ticket and finds the current step and the one open task of it
// that want accepts; when none does, why(open tasks) explains it. Errors are permanent
// (besides those of reading).
func (c *Client) locateTask(ctx context.Context, ticketID, op string, want func(events.Task) bool, why func([]events.Task) string) (events.Ticket, events.Step, events.Task, error) {
	t, err := c.read(ctx, ticketID, op)
	if err != nil {
		return t, events.Step{}, events.Task{}, err
	}
	step, ok := currentStep(t)
	if !ok {
		return t, step, events.Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the ticket is closed (status %q): it has no current task", t.ID, op, t.Status))
	}
	open := openTasks(step)
	if len(open) == 0 {
		return t, step, events.Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: every task of the current step %q is done", t.ID, op, step.Name))
	}
	var match []events.Task
	for _, tk := range open {
		if want(tk) {
			match = append(match, tk)
		}
	}
	switch {
	case len(match) == 1:
		return t, step, match[0], nil
	case len(match) > 1:
		return t, step, events.Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %d open tasks of step %q qualify (%s); cannot choose",
			t.ID, op, len(match), step.Name, taskNames(match)))
	}
	return t, step, events.Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: step %q: %s", t.ID, op, step.Name, why(open)))
}

// putFields PUTs fields into task.
func (c *Client) putFields(ctx context.Context, ticketID, op string, step events.Step, task events.Task, fields []map[string]json.RawMessage) error {
	path, err := taskPath(ticketID, op, step, task)
	if err != nil {
		return err
	}
	body := map[string]any{"fields": map[string]any{"field": fields}}
	return c.put(ctx, ticketID, op, path+"/fields", body)
}

// put makes one PUT of body, as JSON, to the API base + path and classifies the outcome.
func (c *Client) put(ctx context.Context, ticketID, op, path string, body any) error {
	payload, err := json.Marshal(body)
	if err != nil { // maps of strings and raw JSON from a decoded ticket: cannot happen
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %w", ticketID, op, err))
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPut, c.base+path, bytes.NewReader(payload))
	if err != nil { // the base URL was validated and the ids are digits: cannot happen
		return failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %w", ticketID, op, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(c.user, c.pass.Reveal())

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return c.writeTransportError(ctx, actx, ticketID, op, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		_ = resp.Body.Close()
	}()
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		c.log.Debug("securechange: write-back done", "ticket", ticketID, "op", op, "status", code, "took", time.Since(start))
		return nil
	}
	status := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	errBody, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyRead))
	quoted := c.quote(errBody)
	prefix := fmt.Sprintf("securechange: ticket %s: %s", ticketID, op)
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		hint := "check securechange.user and securechange.password_env / securechange.password_file"
		if code == http.StatusForbidden {
			hint += ", and that the user may handle this ticket's step (SecureChange: \"Create and handle tickets on behalf of another user (via API only)\")"
		}
		return fmt.Errorf("%s: %s: %w; %s%s", prefix, status, ErrAccess, hint, quoted)
	case code >= 300 && code < 400:
		loc := ""
		if l, err := resp.Location(); err == nil {
			loc = " to " + strconv.Quote(l.Redacted())
		}
		return fmt.Errorf("%s: %s: redirect%s not followed; check securechange.url (e.g. https, the full path .../securechangeworkflow/api/securechange)%s",
			prefix, status, loc, quoted)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("%s: %s%s", prefix, status, quoted)
		if d, ok := egress.RetryAfter(resp.Header.Get("Retry-After"), time.Now(), maxWriteRetryAfter); ok {
			err = failure.WithRetryAfter(err, d)
		}
		return err
	case code == http.StatusNotFound:
		return failure.Permanent(fmt.Errorf("%s: %s (the ticket, step or task no longer exists, or securechange.url is wrong)%s", prefix, status, quoted))
	}
	return failure.Permanent(fmt.Errorf("%s: %s%s", prefix, status, quoted))
}

// writeTransportError classifies an error from http.Client.Do for a write: transient.
func (c *Client) writeTransportError(ctx, actx context.Context, ticketID, op string, err error) error {
	prefix := fmt.Sprintf("securechange: ticket %s: %s", ticketID, op)
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

// currentStep is the ticket's current step: the latest step whose id (or, without
// one, name) is "current_step"'s, else the latest step (SecureChange lists the steps
// reached so far; seed 000's script takes the last). ok is false for a closed ticket.
func currentStep(t events.Ticket) (events.Step, bool) {
	i, ok := currentIndex(t)
	if !ok {
		return events.Step{}, false
	}
	return t.Steps[i], true
}

// currentIndex is the index of currentStep in t.Steps.
func currentIndex(t events.Ticket) (int, bool) {
	cur := t.CurrentStep
	if cur == nil || len(t.Steps) == 0 {
		return 0, false
	}
	for i := len(t.Steps) - 1; i >= 0; i-- {
		s := t.Steps[i]
		if (cur.ID != "" && s.ID == cur.ID) || (cur.ID == "" && cur.Name != "" && s.Name == cur.Name) {
			return i, true
		}
	}
	return len(t.Steps) - 1, true
}

// openTasks are the tasks of step that are not DONE.
func openTasks(step events.Step) []events.Task {
	var out []events.Task
	for _, tk := range step.Tasks {
		if !strings.EqualFold(tk.Status, taskDone) {
			out = append(out, tk)
		}
	}
	return out
}

// theOpenTask is the one open task of step.
func theOpenTask(ticketID, op string, step events.Step) (events.Task, error) {
	open := openTasks(step)
	switch len(open) {
	case 1:
		return open[0], nil
	case 0:
		return events.Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: every task of the current step %q is done", ticketID, op, step.Name))
	}
	return events.Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: step %q has %d open tasks (%s); cannot choose",
		ticketID, op, step.Name, len(open), taskNames(open)))
}

// taskPath is /tickets/{id}/steps/{step}/tasks/{task}. A step without an id is
// addressed as "current" (as Tufin's SDK does); a task without one is an error.
func taskPath(ticketID, op string, step events.Step, task events.Task) (string, error) {
	if task.ID == "" {
		return "", failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the current task of step %q has no id in the ticket JSON", ticketID, op, step.Name))
	}
	stepID := step.ID
	if stepID == "" {
		stepID = "current"
	}
	return "/tickets/" + ticketID + "/steps/" + stepID + "/tasks/" + task.ID, nil
}

// hasFields reports whether task has a field of every name.
func hasFields(task events.Task, names []string) bool {
	for _, n := range names {
		found := false
		for _, f := range task.Fields {
			if f.Name == n {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// approveRejectField is the first approve_reject field of task.
func approveRejectField(task events.Task) (events.Field, bool) {
	for _, f := range task.Fields {
		if f.Type == "approve_reject" {
			return f, true
		}
	}
	return events.Field{}, false
}

// fieldNames lists the fields of tasks, with their types, for an error message.
func fieldNames(tasks []events.Task) string {
	var names []string
	seen := map[string]bool{}
	for _, tk := range tasks {
		for _, f := range tk.Fields {
			if !seen[f.Name] {
				seen[f.Name] = true
				names = append(names, strconv.Quote(f.Name)+" ("+f.Type+")")
			}
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func quoteAll(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return strings.Join(out, ", ")
}

func taskNames(tasks []events.Task) string {
	var out []string
	for _, tk := range tasks {
		s := "task " + tk.ID
		if tk.Name != "" {
			s += " " + strconv.Quote(tk.Name)
		}
		if tk.Assignee != "" {
			s += " assigned to " + tk.Assignee
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func stepNames(steps []events.Step) string {
	if len(steps) == 0 {
		return "none"
	}
	var out []string
	for _, s := range steps {
		out = append(out, strconv.Quote(s.Name))
	}
	return strings.Join(out, ", ")
}

// statusRejected is SecureChange's status of a rejected ticket (pytos
// securechange/xml_objects/rest.py: TicketStatus.Rejected, Ticket.REJECTED_STATUS).
const statusRejected = "Ticket Rejected"

// isRejected reports whether a ticket status is SecureChange's "Ticket Rejected".
func isRejected(status string) bool {
	return strings.EqualFold(strings.TrimSpace(status), statusRejected)
}
