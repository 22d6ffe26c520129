package securechange_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the requests the client sends")

// TestWriteGolden: each write-back's request, byte for byte, against a golden file whose
// shape follows Tufin's SDKs (the comment of each case names the SDK function). Run with
// -update to rewrite them, then check the diff against the SDKs.
func TestWriteGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		method string // "" is PUT
		path   string // the write's path and query, below the API base
		setup  func(context.Context, *securechange.Client) error
		call   func(context.Context, *securechange.Client) error
	}{
		// pytos Secure_Change_Helper.put_task after Step_Task.mark_as_done() (the whole task
		// as read, status DONE); pytos2 ScwAPI.put_task / Ticket.advance:
		// {"task":{id, name, status:"DONE", fields:{"field":[…]}}}, fields always sent.
		{name: "advance", path: "/tickets/7/steps/2/tasks/21",
			call: func(ctx context.Context, c *securechange.Client) error { return c.Advance(ctx, "7") }},
		// pytos Secure_Change_Helper.redo_step, pytos2 ScwAPI.redo_step:
		// PUT …/tasks/{task}/redo/{to_step_id} {"redo_step_comment":{"comment":…}}.
		{name: "redo", path: "/tickets/7/steps/3/tasks/31/redo/2",
			setup: func(ctx context.Context, c *securechange.Client) error { return c.Advance(ctx, "7") },
			call: func(ctx context.Context, c *securechange.Client) error {
				return c.Redo(ctx, "7", "Business Approval", "wrong risk rating")
			}},
		// pytos2 ScwAPI.reject_ticket(ticket_id, comment) without a handler:
		// PUT tickets/{id}/reject {"reject_comment":{"comment":…}}.
		{name: "reject", path: "/tickets/7/reject",
			call: func(ctx context.Context, c *securechange.Client) error {
				return c.RejectTicket(ctx, "7", "not compliant")
			}},
		// pytos2 ScwAPI.reject_ticket with handler_id (its tests: …/tickets/288/reject?handler_id=45);
		// pytos reject_ticket(ticket_id, comment, handler_id) names the same user.
		{name: "reject_handler", path: "/tickets/7/reject?handler_id=45",
			call: func(ctx context.Context, c *securechange.Client) error {
				return c.RejectTicketAs(ctx, "7", "not compliant", "45")
			}},
		// pytos docs/approve_ticket.rst (approve_reject field's approved and reason) sent as
		// pytos2 ScwAPI.put_fields: PUT …/tasks/{task}/fields {"fields":{"field":[…]}}.
		{name: "approve", path: "/tickets/7/steps/2/tasks/21/fields",
			call: func(ctx context.Context, c *securechange.Client) error {
				return c.ApproveReject(ctx, "7", true, "ok by policy")
			}},
		// pytos2-CE Scw.add_comment(ticket_id, step_id, task_id, comment_content):
		// POST …/tasks/{task}/comments {"comment":{"content":…}}.
		{name: "comment", method: "POST", path: "/tickets/7/steps/2/tasks/21/comments",
			call: func(ctx context.Context, c *securechange.Client) error {
				return c.AddComment(ctx, "7", "CHG0042 approved by CAB")
			}},
		// pytos Secure_Change_Helper.post_ticket, pytos2-CE Scw.create_ticket: POST tickets
		// {"ticket":{subject, requester, priority, workflow {name}, the first step's task's fields}}.
		{name: "create", method: "POST", path: "/tickets",
			call: func(ctx context.Context, c *securechange.Client) error {
				_, err := c.CreateTicket(ctx, sampleNewTicket())
				return err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, cl := newSim(t, "7")
			if tc.setup != nil {
				if err := tc.setup(t.Context(), cl); err != nil {
					t.Fatal(err)
				}
			}
			before := len(writes(sim))
			if err := tc.call(t.Context(), cl); err != nil {
				t.Fatal(err)
			}
			ws := writes(sim)
			if len(ws) != before+1 {
				t.Fatalf("%d write requests, want 1", len(ws)-before)
			}
			w := ws[before]
			got := w.Path
			if w.Query != "" {
				got += "?" + w.Query
			}
			method := tc.method
			if method == "" {
				method = "PUT"
			}
			if w.Method != method || got != base+tc.path {
				t.Errorf("%s %s, want %s %s", w.Method, got, method, base+tc.path)
			}
			file := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(file, w.Body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -run TestWriteGolden -update)", err)
			}
			if !bytes.Equal(w.Body, want) {
				t.Errorf("body\n%s\nwant (%s)\n%s", w.Body, file, want)
			}
		})
	}
}
