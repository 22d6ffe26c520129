package securechange_test

import (
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// TestCanonicalTicketID: leading zeros go, so one ticket has one id; ids of only zeros,
// of other characters, and of more than 19 digits are refused, each saying why.
func TestCanonicalTicketID(t *testing.T) {
	for in, want := range map[string]string{"1001": "1001", "0001001": "1001", "7": "7", "0000000000000000009": "9"} {
		if got, err := securechange.CanonicalTicketID(in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"0":                    `"0" is not a ticket number (ticket numbers start at 1)`,
		"000":                  `"000" is not a ticket number`,
		"":                     `"" is not a SecureChange ticket id: want 1 to 19 digits`,
		"12a":                  `"12a" is not a SecureChange ticket id`,
		"-5":                   `"-5" is not a SecureChange ticket id`,
		"12345678901234567890": `"12345678901234567890" is not a SecureChange ticket id: want 1 to 19 digits`,
	} {
		if got, err := securechange.CanonicalTicketID(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %q, %v; want an error with %q", in, got, err, want)
		}
	}
}
