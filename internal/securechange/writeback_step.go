package securechange

import (
	"errors"
	"fmt"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// ErrNotAtStep is wrapped by the (permanent) error of a step-bound write given an
// expected step (ApproveRejectAt, UpdateFieldsAt, AddCommentAt) when the ticket's
// current step has another name, or the ticket is closed: it left that step, so the
// write was not made. Its text is seed 000's script's message.
var ErrNotAtStep = errors.New("Ticket is no longer at the expected step") //nolint:staticcheck // ST1005: seed 000's words, capital included

// stepOf is the ticket's current step for op. With expected == "" a closed ticket is a
// permanent error; otherwise a ticket that is closed or at a step of another name is
// ErrNotAtStep, naming both steps and saying that nothing was written. A ticket that
// left the step and was redone back to it is at it again.
func stepOf(t Ticket, op, expected string) (Step, error) {
	step, ok := currentStep(t)
	switch {
	case expected == "" && !ok:
		return step, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the ticket is closed (status %q): it has no current task", t.ID, op, t.Status))
	case expected == "" || (ok && step.Name == expected):
		return step, nil
	}
	current := fmt.Sprintf("%q", step.Name)
	if !ok {
		current = fmt.Sprintf("none, the ticket is closed (status %q)", t.Status)
	}
	return step, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: %w: expected step %q, current step %s; the ticket was not changed",
		t.ID, op, ErrNotAtStep, expected, current))
}
