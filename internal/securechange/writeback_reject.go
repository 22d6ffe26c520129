package securechange

import (
	"context"
	"fmt"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
)

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

// statusRejected is SecureChange's status of a rejected ticket (pytos
// securechange/xml_objects/rest.py: TicketStatus.Rejected, Ticket.REJECTED_STATUS).
const statusRejected = "Ticket Rejected"

// isRejected reports whether a ticket status is SecureChange's "Ticket Rejected".
func isRejected(status string) bool {
	return strings.EqualFold(strings.TrimSpace(status), statusRejected)
}
