package ingress

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/triggerflow/triggerflow/internal/config"
)

// Exit codes the seed mediator exits with when we answer {"error":{"returnCode":N}}
// (BSD sysexits, so an admin reading SecureChange's message board can tell them apart).
const (
	exitDataErr = 65 // the trigger was rejected: bad input, never stored
)

// reply is the mediator's response contract: {"output": …} on success, and
// {"error": {"output": …, "returnCode": N}} on failure. The extra fields are for API
// clients; the mediator's Python step ignores them.
type reply struct {
	Output string      `json:"output,omitempty"`
	Error  *replyError `json:"error,omitempty"`

	ID      string `json:"id,omitempty"`
	Event   string `json:"event,omitempty"`
	Ticket  string `json:"ticket,omitempty"`
	Subject string `json:"subject,omitempty"`
	Stored  bool   `json:"stored"`
}

type replyError struct {
	Output     string `json:"output"`
	ReturnCode int    `json:"returnCode"`
}

// writeJSON answers v (a reply, an inboundReply) as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// rejectInBody decides whether a rejection travels as 200 + {"error":…} (so the seed
// mediator, which runs `curl --fail`, shows the reason and exits non-zero) or as a 4xx.
func rejectInBody(style string, r *http.Request) bool {
	switch style {
	case config.RejectBody:
		return true
	case config.RejectStatus:
		return false
	}
	return strings.HasPrefix(r.UserAgent(), "curl/")
}

// reject answers an input error. Authentication failures and transient failures are
// always HTTP errors: a 401 must stay a 401, and a 503 must make curl fail.
func reject(w http.ResponseWriter, e *InputError, inBody bool) {
	out := "triggerflow: rejected: " + e.Msg + "\n"
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="triggerflow", charset="UTF-8"`)
		inBody = false
	}
	status := e.Status
	if inBody {
		status = http.StatusOK
	}
	writeJSON(w, status, reply{Error: &replyError{Output: out, ReturnCode: exitDataErr}})
}

// unavailable answers a failure that is not the client's: JetStream did not store the
// trigger. Always 503, so curl --fail exits 22 and SecureChange runs the script again.
func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, reply{Error: &replyError{
		Output: "triggerflow: not stored, try again: " + msg + "\n", ReturnCode: 75,
	}})
}
