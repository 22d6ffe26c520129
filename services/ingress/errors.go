package ingress

import (
	"fmt"
	"net/http"
	"strconv"
)

// InputError rejects a request because of what the client sent. It maps to a 4xx
// (Status) and is never retried by the ingress; Msg names what is wrong and is
// shown to the client verbatim, so it must never contain a secret.
type InputError struct {
	Status int
	Msg    string
}

func (e *InputError) Error() string { return e.Msg }

// quoteShort quotes a value from the request (a path, a header) for an error message, cut
// to a readable length.
func quoteShort(s string) string {
	const max = 100
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

// badInput returns a 400 InputError with a formatted message.
func badInput(format string, args ...any) *InputError {
	return &InputError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}
