package securechangetest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// The endpoints that answer 201 Created with a Location and no body: POST tickets
// (pytos post_ticket, pytos2 create_ticket read the new id from Location) and
// POST …/tasks/{task}/comments (pytos2 add_comment).

// created runs h under the lock and answers 201 with Location: the URL of the
// resource at the path h returns, below the API base, or h's error.
func (s *Server) created(h func(*http.Request) (string, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		p, e := h(r)
		s.mu.Unlock()
		if e != nil {
			writeError(w, e.status, e.code, e.message)
			return
		}
		w.Header().Set("Location", s.URL+p)
		w.WriteHeader(http.StatusCreated)
	}
}

// createTicket: POST tickets {"ticket":{"subject":…,"workflow":{"name":…},
// "steps":{"step":[{"tasks":{"task":[{"fields":{"field":[…]}}]}}]}}}. The first step
// (named as sent, else "Open request") becomes the current step, with one task
// ASSIGNED to the API user holding the fields sent (with new ids).
func (s *Server) createTicket(r *http.Request) (string, *apiError) {
	body, e := decodeBody(r)
	if e != nil {
		return "", e
	}
	in, ok := body["ticket"].(map[string]any)
	if !ok {
		return "", badRequest(`Expected {"ticket":{…}}`)
	}
	wf, _ := in["workflow"].(map[string]any)
	if strings.TrimSpace(str(wf, "name")) == "" {
		return "", badRequest("Workflow name is missing")
	}
	if strings.TrimSpace(str(in, "subject")) == "" {
		return "", badRequest("Ticket subject is missing")
	}
	steps := elems(in, "steps", "step")
	if len(steps) != 1 {
		return "", badRequest("A new ticket has exactly one step, the first (got %d)", len(steps))
	}
	tasks := elems(steps[0], "tasks", "task")
	if len(tasks) != 1 {
		return "", badRequest("The first step of a new ticket has exactly one task (got %d)", len(tasks))
	}
	fields := elems(tasks[0], "fields", "field")
	for _, f := range fields {
		if e := checkNewField(f); e != nil {
			return "", e
		}
	}
	id := s.nextTicketID()
	tk, err := newTicket(newTicketJSON(id, in, str(wf, "name"), str(steps[0], "name"), fields, s.user))
	if err != nil { // built here from checked values: cannot happen
		return "", &apiError{http.StatusInternalServerError, "INTERNAL_ERROR", err.Error()}
	}
	s.tickets[id] = tk
	s.createdIDs = append(s.createdIDs, id)
	return "/tickets/" + id, nil
}

// nextTicketID is one more than the largest ticket id stored.
func (s *Server) nextTicketID() string {
	var n int64
	for id := range s.tickets {
		if v, err := strconv.ParseInt(id, 10, 64); err == nil && v > n {
			n = v
		}
	}
	return strconv.FormatInt(n+1, 10)
}

// newTicketJSON is the stored form of a created ticket.
func newTicketJSON(id string, in map[string]any, workflow, stepName string, fields []map[string]any, user string) json.RawMessage {
	if stepName == "" {
		stepName = "Open request"
	}
	requester, priority := str(in, "requester"), str(in, "priority")
	if requester == "" {
		requester = user
	}
	if priority == "" {
		priority = "Normal"
	}
	n := 1000
	next := func() int { n++; return n }
	stored := make([]any, len(fields))
	for i, f := range fields {
		c := deepCopy(f)
		c["id"] = next()
		stored[i] = c
	}
	stepID, taskID := next(), next()
	t := map[string]any{
		"id": json.Number(id), "subject": str(in, "subject"), "requester": requester, "priority": priority,
		"status": StatusInProgress, "domain_name": str(in, "domain_name"), "sla_status": "NA", "sla_outcome": "NA",
		"workflow":     map[string]any{"id": 1, "name": workflow},
		"current_step": map[string]any{"id": stepID, "name": stepName},
		"comments":     "",
		"steps": map[string]any{"step": map[string]any{
			"id": stepID, "name": stepName, "redone": false, "skipped": false,
			"tasks": map[string]any{"task": map[string]any{
				"id": taskID, "name": stepName, "assignee": user, "status": "ASSIGNED",
				"fields": map[string]any{"field": stored},
			}},
		}},
	}
	b, _ := json.Marshal(map[string]any{"ticket": t})
	return b
}

// checkNewField checks a field of a new ticket: a type and a name; a text_field's
// text a string; a multi_access_request's rows with sources, destinations and
// services of known "@type"s and an action.
func checkNewField(f map[string]any) *apiError {
	typ, name := str(f, "@xsi.type"), str(f, "name")
	if typ == "" || name == "" {
		return badRequest("A field of the new ticket has no @xsi.type or name")
	}
	switch typ {
	case "text_field", "text_area":
		if _, ok := f["text"].(string); !ok {
			return badRequest("Field %q: text must be a string", name)
		}
	case "multi_access_request":
		rows := elems(map[string]any{"w": map[string]any{"r": f["access_request"]}}, "w", "r")
		if len(rows) == 0 {
			return badRequest("Field %q has no access_request", name)
		}
		for _, ar := range rows {
			if e := checkAccessRequest(name, ar); e != nil {
				return e
			}
		}
	}
	return nil
}

// arTypes are the "@type"s of an access request's objects (pytos xml_tags.py TYPE_*
// and SERVICE_OBJECT_TYPE_*), and the members each needs.
var arTypes = map[string]map[string][]string{
	"source":      {"IP": {"ip_address"}, "RANGE": {"range_first_ip", "range_last_ip"}, "ANY": nil, "DNS": {"host_name"}, "Object": {"object_name"}, "INTERNET": nil},
	"destination": {"IP": {"ip_address"}, "RANGE": {"range_first_ip", "range_last_ip"}, "ANY": nil, "DNS": {"host_name"}, "Object": {"object_name"}, "INTERNET": nil},
	"service":     {"PROTOCOL": {"protocol", "port"}, "PREDEFINED": {"predefined_name"}, "ANY": nil, "APPLICATION_IDENTITY": {"application_name"}},
}

func checkAccessRequest(field string, ar map[string]any) *apiError {
	if str(ar, "action") == "" {
		return badRequest("Field %q: access request %s has no action", field, str(ar, "order"))
	}
	for _, kind := range []string{"source", "destination", "service"} {
		objs := elems(ar, kind+"s", kind)
		if len(objs) == 0 {
			return badRequest("Field %q: access request %s has no %ss", field, str(ar, "order"), kind)
		}
		for _, o := range objs {
			need, ok := arTypes[kind][str(o, "@type")]
			if !ok {
				return badRequest("Field %q: access request %s: %s type %q is not known", field, str(ar, "order"), kind, str(o, "@type"))
			}
			for _, k := range need {
				if str(o, k) == "" {
					return badRequest("Field %q: access request %s: %s of type %s has no %s", field, str(ar, "order"), kind, str(o, "@type"), k)
				}
			}
		}
	}
	return nil
}

// addComment: POST …/tasks/{task}/comments {"comment":{"content":…}}.
func (s *Server) addComment(r *http.Request) (string, *apiError) {
	tk, _, task, e := s.openTask(r)
	if e != nil {
		return "", e
	}
	body, e := decodeBody(r)
	if e != nil {
		return "", e
	}
	c, ok := body["comment"].(map[string]any)
	if !ok || strings.TrimSpace(str(c, "content")) == "" {
		return "", badRequest(`Expected {"comment":{"content":…}} with a content`)
	}
	id := tk.newID()
	tk.comment(str(c, "content"), "normal", str(task, "name"), s.user)["id"] = id
	return "/tickets/" + tk.id() + "/comments/" + id.String(), nil
}

// Created are the ids of the tickets created through POST tickets, in order.
func (s *Server) Created() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.createdIDs...)
}

// Comments are the contents of the ticket's comments, in order. An unknown id fails
// the test.
func (s *Server) Comments(id string) []string {
	s.t.Helper()
	var out []string
	for _, c := range s.Ticket(id).Comments {
		out = append(out, c.Content)
	}
	return out
}
