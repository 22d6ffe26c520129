package securechange_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

func TestAddComment(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	if err := cl.AddComment(t.Context(), "7", "CHG0042 approved by CAB"); err != nil {
		t.Fatal(err)
	}
	ws := writes(sim)
	if len(ws) != 1 || ws[0].Method != http.MethodPost || ws[0].Path != base+"/tickets/7/steps/2/tasks/21/comments" {
		t.Fatalf("writes %+v, want one POST …/tickets/7/steps/2/tasks/21/comments", ws)
	}
	jsonEqual(t, ws[0].Body, `{"comment":{"content":"CHG0042 approved by CAB"}}`)
	want := []string{"needed for the orders release", "CHG0042 approved by CAB"}
	if got := sim.Comments("7"); !reflect.DeepEqual(got, want) {
		t.Errorf("comments %q, want %q", got, want)
	}
	if c := sim.Ticket("7").Comments[1]; c.TaskName != "Business Approval" || c.User == "" || c.Created == "" {
		t.Errorf("stored comment %+v", c)
	}

	wantPermanent(t, cl.AddComment(t.Context(), "7", "  "), "ticket 7", "add comment", "empty")
	if err := cl.RejectTicket(t.Context(), "7", "no"); err != nil {
		t.Fatal(err)
	}
	wantPermanent(t, cl.AddComment(t.Context(), "7", "late"), "ticket 7", "add comment", "closed")
	if n := len(writes(sim)); n != 2 {
		t.Errorf("%d writes, want 2", n)
	}
}

// TestStepGuard: a step-bound write given the step the ticket is at is made; once the
// ticket has moved on (or closed) it is ErrNotAtStep, permanent, and nothing is written.
func TestStepGuard(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t, "7")
	ctx := t.Context()
	if err := cl.ApproveRejectAt(ctx, "7", "Business Approval", true, "ok"); err != nil {
		t.Fatal(err)
	}
	if err := cl.UpdateFieldsAt(ctx, "7", "Business Approval", map[string]string{"ITSM Change": "CHG1"}); err != nil {
		t.Fatal(err)
	}
	if err := cl.AddCommentAt(ctx, "7", "Business Approval", "noted"); err != nil {
		t.Fatal(err)
	}
	if err := cl.AdvanceStep(ctx, "7", "Business Approval"); err != nil {
		t.Fatal(err)
	}
	before := len(writes(sim))

	guarded := map[string]func(step string) error{
		"approve": func(step string) error { return cl.ApproveRejectAt(ctx, "7", step, true, "late") },
		"reject":  func(step string) error { return cl.ApproveRejectAt(ctx, "7", step, false, "late") },
		"update fields": func(step string) error {
			return cl.UpdateFieldsAt(ctx, "7", step, map[string]string{"ITSM Change": "x"})
		},
		"add comment": func(step string) error { return cl.AddCommentAt(ctx, "7", step, "late") },
	}
	for op, call := range guarded {
		err := call("Business Approval")
		wantPermanent(t, err, "ticket 7", op, "Ticket is no longer at the expected step",
			`expected step "Business Approval"`, `current step "Implementation"`, "not changed")
		if !errors.Is(err, securechange.ErrNotAtStep) {
			t.Errorf("%s: not ErrNotAtStep: %v", op, err)
		}
	}
	if n := len(writes(sim)) - before; n != 0 {
		t.Errorf("%d writes after the ticket moved on, want none", n)
	}

	// A closed ticket left every step.
	if err := cl.RejectTicket(ctx, "7", "no"); err != nil {
		t.Fatal(err)
	}
	before = len(writes(sim))
	for op, call := range guarded {
		err := call("Implementation")
		if !errors.Is(err, securechange.ErrNotAtStep) || !strings.Contains(err.Error(), `current step none, the ticket is closed (status "Ticket Rejected")`) {
			t.Errorf("%s on a closed ticket: %v", op, err)
		}
		// Without a step, a closed ticket is the old permanent error, not ErrNotAtStep.
		if err := call(""); errors.Is(err, securechange.ErrNotAtStep) || !strings.Contains(err.Error(), "closed") {
			t.Errorf("%s without a step on a closed ticket: %v", op, err)
		}
	}
	if n := len(writes(sim)) - before; n != 0 {
		t.Errorf("%d writes to a closed ticket, want none", n)
	}
}
