package securechange

import (
	"fmt"
	"strings"
)

// CanonicalTicketID is a ticket id as triggerflow keys a ticket by (its subjects, lanes,
// trigger ids and park records): 1 to 19 decimal digits, leading zeros removed, so that
// "0001001" and "1001" are one ticket wherever the id comes from (a trigger's <id>, an ITSM
// callback, an operator's command). An id of only zeros is no ticket.
func CanonicalTicketID(id string) (string, error) {
	if !validTicketID(id) {
		return "", fmt.Errorf("%s is not a SecureChange ticket id: want 1 to %d digits", quoteID(id), maxTicketID)
	}
	c := strings.TrimLeft(id, "0")
	if c == "" {
		return "", fmt.Errorf("%s is not a ticket number (ticket numbers start at 1)", quoteID(id))
	}
	return c, nil
}

// IsTicketNumber reports whether s is written as a ticket number (decimal digits only),
// well formed or not: what CanonicalTicketID should judge, rather than a key of another
// kind.
func IsTicketNumber(s string) bool { return isDigits(s) }
