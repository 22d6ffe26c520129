package securechange

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// NewTicket is a ticket to open (CreateTicket): the workflow by name, the subject, and
// the values of the first step's task.
type NewTicket struct {
	Workflow, Subject, Requester, Priority string            // Requester and Priority: "" leaves SecureChange's default
	Fields                                 map[string]string // by field name, first step's task; sent as text_field
	AccessRequestField                     string            // default "Required Access"
	AccessRequests                         []AccessRequest   // rows of that multi_access_request field
}

// AccessRequest is one row of a multi_access_request field. Sources and Destinations
// hold "10.0.0.1", "10.0.0.0/24", "10.0.0.1-10.0.0.9" or "Any" (IPv6 too); Services
// "tcp 443", "udp 53", "any" or the name of a predefined service ("https"). Action is
// "Accept" ("" and allow/accept), "Drop" (block/drop/deny/reject) or "Remove", as
// pytos's Access_Request_Generator.create_multi_access_requests maps them.
type AccessRequest struct {
	Sources, Destinations, Services []string
	Action, Comment                 string
}

// defaultAccessRequestField is the name of the access-request field of SecureChange's
// access-request workflows when NewTicket does not name one.
const defaultAccessRequestField = "Required Access"

// CreateTicket opens a ticket and returns its id. It is one request, not retried here
// (a retry may open a second ticket, so the caller decides):
//
//	POST tickets   {"ticket":{"subject":…,"requester":…,"priority":…,"workflow":{"name":…},
//	                "steps":{"step":[{"tasks":{"task":[{"fields":{"field":[…]}}]}}]}}}
//
// as Tufin's SDKs create one: pytos Secure_Change_Helper.post_ticket(Ticket) POSTs the
// ticket object (rest.py Ticket: subject, requester, priority, workflow {name}, the
// first step only, its one task's fields; tests/…/new_ticket.xml) and reads the new id
// from the 201's Location, …/tickets/{id} (REST_Response.get_created_item_id); pytos2-CE
// Scw.create_ticket (pytos2/securechange/entrypoint.py) sends the same object as
// {"ticket":{…}} and splits the id off Location. The step is sent without a name:
// SecureChange opens the workflow's first step.
//
// Fields are sent as text_field ({"@xsi.type":"text_field","name":…,"text":…}): the
// type of a field of a ticket that does not exist yet is the workflow's, which this
// client does not read (pytos2's ScwAPI.get_workflow, GET workflows?name=, is not used
// here), so a first-step field of another type is refused by SecureChange with a 400
// naming it. The access requests go in one multi_access_request field, each row as
// pytos's Access_Request (order ARn, targets Any, users Any, sources, destinations,
// services with their "@type", action, comment; see accessrequest.go).
//
// Errors, all naming the subject and workflow: an empty workflow or subject, or a bad
// access-request entry (naming the row and the entry), are permanent and nothing is
// sent; the answer is classified as every write's (writeback.go); a 2xx without a
// ticket id in Location is permanent, and says that the ticket may exist.
func (c *Client) CreateTicket(ctx context.Context, nt NewTicket) (string, error) {
	what := fmt.Sprintf("create ticket %q (workflow %q)", nt.Subject, nt.Workflow)
	if strings.TrimSpace(nt.Workflow) == "" || strings.TrimSpace(nt.Subject) == "" {
		return "", failure.Permanent(fmt.Errorf("securechange: %s: the workflow and the subject must not be empty", what))
	}
	body, err := newTicketBody(nt)
	if err != nil {
		return "", failure.Permanent(fmt.Errorf("securechange: %s: %w", what, err))
	}
	h, err := c.send(ctx, writeReq{
		method: http.MethodPost, path: "/tickets", body: body, what: what,
		notFound: "check securechange.url",
		denied:   "that the user may open tickets of this workflow for this requester",
	})
	if err != nil {
		return "", err
	}
	loc := h.Get("Location")
	id := createdID(loc)
	if id == "" {
		return "", failure.Permanent(fmt.Errorf("securechange: %s: SecureChange accepted the ticket but its answer has no ticket id in Location (%q); the ticket may exist: look for a ticket with this subject before creating it again",
			what, loc))
	}
	c.log.Debug("securechange: ticket created", "ticket", id, "workflow", nt.Workflow)
	return id, nil
}

// createdID is the ticket id at the end of a Location, …/tickets/{id}; "" if none.
func createdID(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return ""
	}
	dir, id := path.Split(strings.TrimSuffix(u.Path, "/"))
	if !strings.HasSuffix(dir, "/tickets/") || !validTicketID(id) {
		return ""
	}
	return id
}

// newTicketBody is the {"ticket":{…}} of a create.
func newTicketBody(nt NewTicket) (map[string]any, error) {
	fields := make([]map[string]any, 0, len(nt.Fields)+1)
	names := make([]string, 0, len(nt.Fields))
	for n := range nt.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fields = append(fields, map[string]any{"@xsi.type": "text_field", "name": n, "text": nt.Fields[n]})
	}
	if len(nt.AccessRequests) > 0 {
		name := nt.AccessRequestField
		if name == "" {
			name = defaultAccessRequestField
		}
		rows := make([]map[string]any, 0, len(nt.AccessRequests))
		for i, ar := range nt.AccessRequests {
			row, err := accessRequestRow(i, ar)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", name, err)
			}
			rows = append(rows, row)
		}
		fields = append(fields, map[string]any{"@xsi.type": "multi_access_request", "name": name, "access_request": rows})
	}
	t := map[string]any{
		"subject":  nt.Subject,
		"workflow": map[string]string{"name": nt.Workflow},
		"steps": map[string]any{"step": []any{map[string]any{
			"tasks": map[string]any{"task": []any{map[string]any{
				"fields": map[string]any{"field": fields},
			}}},
		}}},
	}
	if nt.Requester != "" {
		t["requester"] = nt.Requester
	}
	if nt.Priority != "" {
		t["priority"] = nt.Priority
	}
	return map[string]any{"ticket": t}, nil
}
