package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// reply is a decoded plugin output, whatever its format.
type reply struct {
	ok              bool // retval was read: the header fields below are set
	Retval          int
	Errmsg          string   // errmsg lines joined by "; "
	Infomsg         []string // non-empty infomsg lines
	Changed         bool     // default true
	Rerun           string   // "true", "false" or "auto"
	RetainResources bool
	GroupApproval   []approvalGroup
	Resources       []resourceReply
}

type approvalGroup struct {
	Group     string
	Resources []string // operation ids, or actions of operations the plugin added
}

// resourceReply is one returned resource. Nil pointers (and false *Set) are absent
// fields.
type resourceReply struct {
	ID         string
	Remove     bool
	Kind       *string
	Target     *string
	Action     *string
	Group      *string
	Mandatory  *bool
	Autoselect *string
	SpecSet    bool
	Spec       json.RawMessage // nil: clear
	AttrsSet   bool
	Attrs      map[string]string
}

// unreadable is the (transient) error of an output that cannot be read at all.
func unreadable(format string, args ...any) error {
	return fmt.Errorf("unreadable output: "+format, args...)
}

// invalid is the (permanent) error of an output that can be read but breaks the contract.
func invalid(format string, args ...any) error {
	return failure.Permanent(fmt.Errorf("invalid output: "+format, args...))
}

// parseSpec checks a spec given as JSON text: an object, or "" / null to clear it.
func parseSpec(s []byte) (json.RawMessage, error) {
	s = bytes.TrimSpace(s)
	if len(s) == 0 || string(s) == "null" {
		return nil, nil
	}
	if s[0] != '{' {
		return nil, errors.New("spec is not a JSON object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, s); err != nil {
		return nil, fmt.Errorf("spec is not valid JSON: %v", err)
	}
	return json.RawMessage(b.Bytes()), nil
}

// parseBool reads a boolean value of the KVGroup format (and strings of the JSON one).
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

// parseRerun reads rerun: true, false or auto.
func parseRerun(s string) (string, bool) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "auto":
		return v, true
	case "":
		return "false", true
	default:
		b, ok := parseBool(v)
		return strconv.FormatBool(b), ok
	}
}

func validAutoselect(v string) bool {
	switch v {
	case "true", "mandatory", "none", "false", "":
		return true
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
