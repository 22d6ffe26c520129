package securechangetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The ticket endpoints: each runs under Server.mu (Server.locked) and answers a JSON
// body or an *apiError, as the package documentation lists them.

// ticketFor finds the ticket of the request's {id}.
func (s *Server) ticketFor(id string) (*ticket, *apiError) {
	tk, ok := s.tickets[id]
	if !ok {
		return nil, notFound("Ticket with ID %s does not exist", id)
	}
	return tk, nil
}

func (s *Server) getTicket(r *http.Request) (json.RawMessage, *apiError) {
	id := strings.TrimSuffix(r.PathValue("file"), ".json")
	tk, e := s.ticketFor(id)
	if e != nil {
		return nil, e
	}
	return tk.render(), nil
}

// openTask finds the request's {step} and {task} in the ticket's current step; the
// task must not be DONE.
func (s *Server) openTask(r *http.Request) (*ticket, map[string]any, map[string]any, *apiError) {
	tk, e := s.ticketFor(r.PathValue("id"))
	if e != nil {
		return nil, nil, nil, e
	}
	step, ok := tk.current()
	if !ok {
		return nil, nil, nil, badRequest("Ticket %s is closed (status %s)", tk.id(), str(tk.obj, "status"))
	}
	if sid := r.PathValue("step"); sid != "current" && sid != idOf(step) {
		return nil, nil, nil, badRequest("Step %s is not the current step of ticket %s (current step: %s %q)", sid, tk.id(), idOf(step), str(step, "name"))
	}
	tid := r.PathValue("task")
	for _, task := range elems(step, "tasks", "task") {
		if idOf(task) == tid {
			if strings.EqualFold(str(task, "status"), "DONE") {
				return nil, nil, nil, badRequest("Task %s of ticket %s is already done", tid, tk.id())
			}
			return tk, step, task, nil
		}
	}
	return nil, nil, nil, badRequest("Task %s is not a task of the current step %q of ticket %s", tid, str(step, "name"), tk.id())
}

// putFields: PUT …/fields {"fields":{"field":…}}, or …/fields/{field} {"field":{…}}.
func (s *Server) putFields(r *http.Request) (json.RawMessage, *apiError) {
	_, _, task, e := s.openTask(r)
	if e != nil {
		return nil, e
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	var fields []map[string]any
	if one := r.PathValue("field"); one != "" {
		f, ok := body["field"].(map[string]any)
		if !ok {
			f = body // a bare field object
		}
		if _, ok := f["id"]; !ok {
			f["id"] = one
		}
		if idOf(f) != one {
			return nil, badRequest("Field id %s in the body does not match the path's %s", idOf(f), one)
		}
		fields = []map[string]any{f}
	} else {
		w, ok := body["fields"].(map[string]any)
		if !ok {
			return nil, badRequest(`Expected {"fields":{"field":[…]}}`)
		}
		fields = elems(map[string]any{"fields": w}, "fields", "field")
		if len(fields) == 0 {
			return nil, badRequest("No fields to update")
		}
	}
	if e := updateFields(task, fields); e != nil {
		return nil, e
	}
	return nil, nil
}

// putTask: PUT …/tasks/{task} {"task":{"status":"DONE", "fields":…}}.
func (s *Server) putTask(r *http.Request) (json.RawMessage, *apiError) {
	tk, step, task, e := s.openTask(r)
	if e != nil {
		return nil, e
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	in, ok := body["task"].(map[string]any)
	if !ok {
		return nil, badRequest(`Expected {"task":{…}}`)
	}
	if e := checkTaskBody(task, in); e != nil {
		return nil, e
	}
	if fs := elems(in, "fields", "field"); len(fs) > 0 {
		if e := updateFields(task, fs); e != nil {
			return nil, e
		}
	}
	status, _ := in["status"].(string)
	switch strings.ToUpper(status) {
	case "":
	case "DONE":
		task["status"] = "DONE"
		for _, other := range elems(step, "tasks", "task") {
			if !strings.EqualFold(str(other, "status"), "DONE") {
				return nil, nil // the step waits for its other tasks
			}
		}
		tk.advance()
	default:
		task["status"] = status
	}
	return nil, nil
}

// checkTaskBody: the task of PUT …/tasks/{task} is the whole task, as Tufin's SDKs send
// it (pytos put_task after mark_as_done, pytos2's {"task":{id, name, status, fields}}):
// "id" the task's, "name" (when given) the task's, and "fields" with its "field" list
// always present. A strict server rejects anything less, {"task":{"status":"DONE"}} too.
func checkTaskBody(task, in map[string]any) *apiError {
	id, ok := in["id"]
	if !ok {
		return badRequest(`Task id is missing: send the task as read, {"task":{"id":…,"name":…,"status":…,"fields":{"field":[…]}}}`)
	}
	if fmt.Sprint(id) != idOf(task) {
		return badRequest("Task id %v in the body is not task %s of the path", id, idOf(task))
	}
	if name, ok := in["name"]; ok && fmt.Sprint(name) != str(task, "name") {
		return badRequest("Task name %q in the body is not the task's, %q", fmt.Sprint(name), str(task, "name"))
	}
	fields, ok := in["fields"].(map[string]any)
	if !ok {
		return badRequest(`Task fields are missing: send them as read, "fields":{"field":[…]}`)
	}
	list, ok := fields["field"]
	if !ok {
		return badRequest(`Task fields have no "field" list`)
	}
	// Each field sent back is a write: never a read-only one (pytos drops them with
	// Step_Task.remove_read_only_fields before put_task), and each value under its key.
	items, _ := list.([]any)
	if m, one := list.(map[string]any); one {
		items = []any{m}
	}
	for _, it := range items {
		if f, ok := it.(map[string]any); ok {
			if e := checkSDKShape(f, f); e != nil {
				return e
			}
		}
	}
	return nil
}

// redo: PUT …/tasks/{task}/redo/{to} {"redo_step_comment":{"comment":…}}.
func (s *Server) redo(r *http.Request) (json.RawMessage, *apiError) {
	tk, _, task, e := s.openTask(r)
	if e != nil {
		return nil, e
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	c, ok := body["redo_step_comment"].(map[string]any)
	if !ok {
		return nil, badRequest(`Expected {"redo_step_comment":{"comment":…}}`)
	}
	to := r.PathValue("to")
	cur := tk.currentIndex()
	target := -1
	for i := cur - 1; i >= 0; i-- {
		if idOf(tk.steps[i]) == to {
			target = i
			break
		}
	}
	if target < 0 {
		return nil, badRequest("Step %s is not an earlier step of ticket %s", to, tk.id())
	}
	tk.steps[cur]["redone"] = true
	name := str(tk.steps[target], "name")
	tk.enter(tk.instance(name))
	tk.comment(str(c, "comment"), "redo", str(task, "name"), s.user)
	return nil, nil
}

// reject: PUT /tickets/{id}/reject {"reject_comment":{"comment":…}}.
func (s *Server) reject(r *http.Request) (json.RawMessage, *apiError) {
	tk, e := s.ticketFor(r.PathValue("id"))
	if e != nil {
		return nil, e
	}
	step, ok := tk.current()
	if !ok {
		return nil, badRequest("Ticket %s is closed (status %s)", tk.id(), str(tk.obj, "status"))
	}
	body, e := decodeBody(r)
	if e != nil {
		return nil, e
	}
	c, ok := body["reject_comment"].(map[string]any)
	if !ok {
		return nil, badRequest(`Expected {"reject_comment":{"comment":…}}`)
	}
	if e := checkHandlerID(r); e != nil {
		return nil, e
	}
	tk.obj["status"] = StatusRejected
	delete(tk.obj, "current_step")
	tk.pending = nil
	tk.comment(str(c, "comment"), "reject", str(step, "name"), s.user)
	return nil, nil
}

// decodeBody decodes a JSON object body (numbers kept as json.Number).
func decodeBody(r *http.Request) (map[string]any, *apiError) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, &apiError{http.StatusUnsupportedMediaType, "WEB_APPLICATION_EXCEPTION", fmt.Sprintf("HTTP 415 Unsupported Media Type (Content-Type %q)", ct)}
	}
	var m map[string]any
	d := json.NewDecoder(r.Body)
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, badRequest("The request body is not a JSON object")
	}
	return m, nil
}

// checkHandlerID: reject's optional ?handler_id= (pytos2 reject_ticket) is a user id.
func checkHandlerID(r *http.Request) *apiError {
	q := r.URL.Query()
	if !q.Has("handler_id") {
		return nil
	}
	h := q.Get("handler_id")
	if h == "" || strings.Trim(h, "0123456789") != "" {
		return badRequest("handler_id %q is not a user id", h)
	}
	return nil
}
