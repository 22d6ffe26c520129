package ingress

import (
	"fmt"
	"net/http"
)

// InputError rejects a request because of what the client sent. It maps to a 4xx
// (Status) and is never retried by the ingress; Msg names what is wrong and is
// shown to the client verbatim, so it must never contain a secret.
type InputError struct {
	Status int
	Msg    string
}

func (e *InputError) Error() string { return e.Msg }

// badInput returns a 400 InputError with a formatted message.
func badInput(format string, args ...any) *InputError {
	return &InputError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}
