package tracing_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
)

type quoting struct{ msg, body string }

func (q quoting) Error() string       { return q.msg + ": " + q.body }
func (q quoting) SpanMessage() string { return q.msg }

// TestDescribe: what a span says of an error leaves out the response bodies the error
// quotes, and keeps the rest.
func TestDescribe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("dial tcp 10.0.0.1:443: connection refused"), "dial tcp 10.0.0.1:443: connection refused"},
		{fmt.Errorf("gave up after 3 attempts: %w", quoting{"server snow: POST /api: 400 Bad Request", `{"error":"x"}`}), "gave up after 3 attempts: server snow: POST /api: 400 Bad Request"},
		{errors.New(`securechange: ticket 7: 500 Internal Server Error` + tracing.ResponseQuote + `<html>oops</html>`), "securechange: ticket 7: 500 Internal Server Error"},
	} {
		if got := tracing.Describe(tc.err); got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
