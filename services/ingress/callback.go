package ingress

import (
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// CallbackPaths are the JSON paths (gjson) of an inbound callback's own id, SecureChange
// ticket and ITSM record (servers.<name>.inbound.id, .ticket, .record); "" is not set.
type CallbackPaths struct {
	ID, Ticket, Record string
}

// Callback is what an inbound callback's body names; "" is absent.
type Callback struct {
	ID     string // the callback's own id: a string, or a number as written
	Ticket string // the SecureChange ticket id: securechange.CanonicalTicketID
	Record string // the ITSM record's correlation value: a string, or a number as written
}

// maxRecordBytes limits the record a callback names: it ends up in subjects and keys.
const maxRecordBytes = 256

// DecodeCallback checks that body is one JSON object (valid UTF-8 and JSON, no key twice
// at its top level) and reads the id, ticket and record at paths from it. A path that
// is not set, absent from the body or null gives "". A value that is there must be a
// string or a number, not empty; the ticket must be digits (a SecureChange ticket id).
// Errors are *InputError (400) naming the problem and, for a value, its path.
func DecodeCallback(body []byte, paths CallbackPaths) (Callback, error) {
	first := skipSpace(body, 0)
	if first == len(body) {
		return Callback{}, badInput("body is empty: send the callback as a JSON object")
	}
	if at := invalidUTF8At(body); at >= 0 {
		return Callback{}, badInput("body is not valid UTF-8 at byte %d", at)
	}
	if err := json.Unmarshal(body, new(json.RawMessage)); err != nil {
		return Callback{}, badInput("body is not valid JSON (%s)", describeJSONError(err))
	}
	if body[first] != '{' {
		return Callback{}, badInput("body must be a JSON object, not %s", article(jsonKind(body[first:])))
	}
	if dup, prev, ok := duplicateKey(body, nil); ok {
		return Callback{}, duplicateKeyError(dup, prev)
	}
	var (
		cb  Callback
		err error
	)
	if cb.ID, err = scalarAt(body, "id", paths.ID); err != nil {
		return Callback{}, err
	}
	if cb.Ticket, err = scalarAt(body, "ticket", paths.Ticket); err != nil {
		return Callback{}, err
	}
	if cb.Ticket != "" {
		// One ticket, one id: "0001001" is ticket 1001, as in a trigger's <id>.
		id, err := securechange.CanonicalTicketID(cb.Ticket)
		if err != nil {
			return Callback{}, badInput("ticket (path %q): %v", paths.Ticket, err)
		}
		cb.Ticket = id
	}
	if cb.Record, err = scalarAt(body, "record", paths.Record); err != nil {
		return Callback{}, err
	}
	if len(cb.Record) > maxRecordBytes {
		return Callback{}, badInput("record %s (path %q) is longer than %d bytes", quoteShort(cb.Record), paths.Record, maxRecordBytes)
	}
	return cb, nil
}

// scalarAt is the string or number at path in body (valid JSON), "" when path is "" or
// the body has nothing (or null) there; what names the value in errors.
func scalarAt(body []byte, what, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	r := gjson.GetBytes(body, path)
	switch r.Type {
	case gjson.Null:
		return "", nil
	case gjson.Number:
		return r.Raw, nil
	case gjson.String:
		if strings.TrimSpace(r.Str) == "" {
			return "", badInput("%s (path %q) is empty", what, path)
		}
		return r.Str, nil
	}
	kind := "a bool"
	if r.Type == gjson.JSON {
		kind = article(jsonKind([]byte(r.Raw)))
	}
	return "", badInput("%s (path %q) must be a string or a number, not %s", what, path, kind)
}
