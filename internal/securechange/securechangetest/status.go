package securechangetest

// SecureChange's ticket statuses, as its REST API writes them in a ticket's "status"
// (pytos securechange/xml_objects/rest.py, TicketStatus and Ticket.*_STATUS).
const (
	StatusInProgress = "In Progress"
	StatusClosed     = "Ticket Closed"
	StatusCancelled  = "Ticket Cancelled"
	StatusRejected   = "Ticket Rejected"
	StatusResolved   = "Ticket Resolved"
)

// isOpenStatus reports whether status is not one of a finished ticket's.
func isOpenStatus(status string) bool {
	switch status {
	case StatusClosed, StatusCancelled, StatusRejected, StatusResolved:
		return false
	}
	return true
}
