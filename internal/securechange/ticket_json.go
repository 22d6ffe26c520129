package securechange

// How DecodeTicket reads a ticket: the JSON library decodes the wire shapes
// (ticket_shapes.go), and a small type per quirk of SecureChange's
// XML-to-JSON mapping says what it accepts:
//
//	jsonID       an id: a number, or a string of decimal digits
//	jsonText     a string, or a number or boolean as its literal text
//	jsonFlag     a boolean, or the string "true" or "false"
//	optional[T]  an object that may be empty: absent, null, "" or {}
//	many[E]      a collection's child ("step" of "steps": {"step": ...}):
//	             one element or an array of them, none when empty or []
//
// A value of the wrong shape makes an UnmarshalJSON method return a
// *shapeError; the library adds the JSON pointer of the value, through the
// nested decodes too, and ticketError makes it the path of the error.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// jsonOptions are encoding/json's semantics (github.com/go-json-experiment/json
// with its v1 options, which is what Go 1.27 ships as encoding/json) with two
// changes: member names match case-sensitively, as SecureChange spells them,
// and errors are the library's own, which keep the JSON pointer of the value
// an UnmarshalJSON method rejected (the v1 errors drop it).
var jsonOptions = jsonv2.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	jsonv2.MatchCaseInsensitiveNames(false),
	jsonv1.ReportErrorsWithLegacySemantics(false),
)

// unmarshalJSON decodes b into v with jsonOptions.
func unmarshalJSON(b []byte, v any) error { return jsonv2.Unmarshal(b, v, jsonOptions) }

// shapeError is what the UnmarshalJSON methods here return for a value of an
// unexpected shape.
type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }

// want is the error for b, which is not what.
func want(what string, b []byte) error {
	return &shapeError{msg: "want " + what + ", got " + jsonKind(b)}
}

// ticketError makes an error of the library a DecodeTicket error.
func ticketError(err error) error {
	if syn, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
		return &ticketJSONError{err: err, msg: "invalid JSON at byte " +
			strconv.FormatInt(syn.ByteOffset, 10) + ": " + cmp.Or(syn.Err, error(syn)).Error()}
	}
	sem, ok := errors.AsType[*jsonv2.SemanticError](err)
	if !ok || sem.Err == nil {
		return &ticketJSONError{msg: err.Error(), err: err} // not expected: every method here names the problem
	}
	return &ticketJSONError{path: jsonPath(sem.JSONPointer), msg: sem.Err.Error()}
}

// jsonPath writes p, a JSON pointer into the ticket object, as the path of
// DecodeTicket's errors: /steps/step/1/id is ticket.steps.step[1].id. A token
// of digits is an array index: no member DecodeTicket reads is named so.
func jsonPath(p jsontext.Pointer) string {
	var b strings.Builder
	b.WriteString("ticket")
	for tok := range p.Tokens() {
		if isDigits(tok) {
			b.WriteString("[" + tok + "]")
		} else {
			b.WriteString("." + tok)
		}
	}
	return b.String()
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(b []byte) string {
	switch jsontext.Value(b).Kind() {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '0':
		return "a number"
	}
	return "nothing"
}

// isEmptyJSON reports whether b, a JSON value, is null, "" or {}.
func isEmptyJSON(b []byte) bool {
	switch jsontext.Value(b).Kind() {
	case 'n':
		return true
	case '"':
		return len(b) == 2
	case '{':
		return len(bytes.Trim(b[1:len(b)-1], " \t\r\n")) == 0
	}
	return false
}

// isTrueJSON reports whether b is true or "true".
func isTrueJSON(b []byte) bool { return string(b) == "true" || string(b) == `"true"` }

// unquote returns the text of b, a JSON string, with invalid UTF-8 replaced
// by U+FFFD as encoding/json does (which is the only error possible: the
// library has validated b).
func unquote(b []byte) string {
	s, _ := jsontext.AppendUnquote(nil, b)
	return string(s)
}

// jsonID is an id: a JSON number or a string of decimal digits; null or "" is "".
type jsonID string

func (id *jsonID) UnmarshalJSON(b []byte) error {
	*id = ""
	switch jsontext.Value(b).Kind() {
	case 'n':
	case '"':
		s := unquote(b)
		if s != "" && !isDigits(s) {
			return &shapeError{msg: "want a decimal id, got " + quoteID(s)}
		}
		*id = jsonID(s)
	case '0':
		if !isDigits(string(b)) {
			return &shapeError{msg: "want a decimal id, got " + truncate(b, 40)}
		}
		*id = jsonID(b)
	default:
		return want("a number or string", b)
	}
	return nil
}

// jsonText is a string; a number or boolean is its literal text, null is "".
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	switch jsontext.Value(b).Kind() {
	case 'n':
		*t = ""
	case '"':
		*t = jsonText(unquote(b))
	case '{', '[':
		*t = ""
		return want("a string", b)
	default:
		*t = jsonText(b)
	}
	return nil
}

// jsonFlag is a boolean: true, false, "true" or "false"; null or "" is unset.
type jsonFlag struct{ set, value bool }

func (f *jsonFlag) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null", `""`:
		*f = jsonFlag{}
	case "true", `"true"`:
		*f = jsonFlag{set: true, value: true}
	case "false", `"false"`:
		*f = jsonFlag{set: true}
	default:
		*f = jsonFlag{}
		return want("a boolean", b)
	}
	return nil
}

// ptr returns the flag, nil when unset.
func (f jsonFlag) ptr() *bool {
	if !f.set {
		return nil
	}
	return &f.value
}

// optional is an object that may be empty: ok is false when it is absent,
// null, "" or {}.
type optional[T any] struct {
	v  T
	ok bool
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	*o = optional[T]{}
	if isEmptyJSON(b) {
		return nil
	}
	o.ok = true
	return decodeObject(b, &o.v)
}

// decodeObject decodes b, which must be a JSON object, into v.
func decodeObject(b []byte, v any) error {
	if jsontext.Value(b).Kind() != '{' {
		return want("an object", b)
	}
	return unmarshalJSON(b, v)
}

// many is a collection's child: an array of elements, or one element; null,
// "", {} and [] are none. An element's errors have an index in their path
// only when the child was an array.
type many[E any] []E

func (m *many[E]) UnmarshalJSON(b []byte) error {
	*m = nil
	switch {
	case isEmptyJSON(b):
		return nil
	case jsontext.Value(b).Kind() == '[':
		return unmarshalJSON(b, (*[]E)(m))
	}
	*m = make(many[E], 1)
	return unmarshalJSON(b, &(*m)[0])
}

// values returns what the decoded elements es hold, nil for none.
func values[T any, E interface{ value() T }](es []E) []T {
	if len(es) == 0 {
		return nil
	}
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = e.value()
	}
	return out
}

// members are the members of an object, each decoded when it is known how
// (a field's members depend on its type, which may come last).
type members map[string]jsontext.Value

// decode decodes the member key, if there is one, into v. Its errors name the
// member, so that the library adds the object's own path in front.
func (m members) decode(key string, v json.Unmarshaler) error {
	b, ok := m[key]
	if !ok {
		return nil
	}
	err := v.UnmarshalJSON(b)
	if err == nil {
		return nil
	}
	ptr := jsontext.Pointer("").AppendToken(key)
	if sem, ok := errors.AsType[*jsonv2.SemanticError](err); ok {
		sem.JSONPointer = ptr + sem.JSONPointer
		return sem
	}
	return &jsonv2.SemanticError{JSONPointer: ptr, Err: err}
}
