package ingress

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MediatorBody is the request body the seed mediator script posts:
//
//	{ "ticket_info":"<base64 of the XML on stdin>",
//	"event":"ADVANCE",
//	"args":"argv[2..] joined by spaces",
//	"script":"/opt/trigger-service/test.py"
//	}
type MediatorBody struct {
	TicketInfo []byte // the ticket_info XML, base64-decoded
	Event      string // SCW_EVENT as sent; not validated here
	Args       string
	Script     string
	// Recovered: args or script hold characters the seed mediator does not escape (", \,
	// control characters), so they were read literally from its layout, not as JSON.
	Recovered bool
}

// argsHint explains the usual reason a mediator body is not JSON.
const argsHint = `the mediator does not escape args, so a " or \ in an argument breaks the JSON; ` +
	`escape args or use POST /v1/triggers/{EVENT}`

// DecodeMediatorBody decodes the body the seed mediator posts.
//
// A body byte-for-byte in the seed mediator's layout (`{ "ticket_info":"…",⏎"event":"…",⏎
// "args":"…",⏎"script":"…"⏎}`) is read the way the seed wrote it: literally, without JSON
// unescaping, since the seed pastes args in unescaped (so `C:\temp` stays `C:\temp` and is
// not read as a tab). This is also the fast path: no JSON decoder runs. A client that does
// escape its JSON should use any other layout (for example compact JSON).
//
// Any other body is read as JSON (unknown fields ignored). A key that appears twice in
// the object ("event", or "Event" after "event", which encoding/json would match to the
// same field) is rejected, naming the key: a JSON reader would take the last one and a
// proxy or log reader possibly the first. The mediator pastes
// args and script into the JSON without escaping them, so a quote, backslash
// or control character in an argument makes the body invalid JSON; then, and
// only then, the body is read by the mediator's exact layout instead:
//
//	{ "ticket_info":"<base64>", "event":"<A-Z_>", "args":"<anything>", "script":"<anything>" }
//
// with white space allowed between the tokens, args ending at the last
// `", "script":"` and script at the final `" }`. Args and script are then
// taken literally, not unescaped, and Recovered is set.
//
// ticket_info may be padded or unpadded standard base64 and may contain line
// breaks (as base64 without -w0 writes). The event name and the XML are not
// checked here; the size of the body is the caller's concern. Errors are
// *InputError naming the field and the problem.
func DecodeMediatorBody(b []byte) (MediatorBody, error) {
	first := skipSpace(b, 0)
	if first == len(b) {
		return MediatorBody{}, badInput("body is empty")
	}
	if !utf8.Valid(b) {
		return MediatorBody{}, notUTF8(b)
	}

	if l, ok := seedLayout(b); ok {
		xml, err := decodeBase64(b[l.ticketInfo.lo:l.ticketInfo.hi])
		if err != nil {
			return MediatorBody{}, badInput("%s", err.(*fieldError).msg)
		}
		args, script := b[l.args.lo:l.args.hi], b[l.script.lo:l.script.hi]
		return MediatorBody{
			TicketInfo: xml,
			Event:      string(b[l.event.lo:l.event.hi]),
			Args:       string(args),
			Script:     string(script),
			Recovered:  needsEscape(args) || needsEscape(script),
		}, nil
	}

	body, isJSON, err := decodeJSONBody(b, first)
	if isJSON {
		return body, err
	}

	// Not JSON: try the mediator's layout.
	l, fail := parseLayout(b)
	if fail != "" {
		jsonErr := describeJSONError(err)
		if b[first] == '{' {
			// Meant as JSON: most likely the classic broken argument.
			return MediatorBody{}, badInput("body is not valid JSON (%s) and does not have the mediator's layout either (%s): %s", jsonErr, fail, argsHint)
		}
		return MediatorBody{}, badInput("body is not valid JSON (%s) and does not have the mediator's layout either (%s)", jsonErr, fail)
	}
	xml, err := decodeBase64(b[l.ticketInfo.lo:l.ticketInfo.hi])
	if err != nil {
		return MediatorBody{}, badInput("%s", err.(*fieldError).msg)
	}
	return MediatorBody{
		TicketInfo: xml,
		Event:      string(b[l.event.lo:l.event.hi]),
		Args:       string(b[l.args.lo:l.args.hi]),
		Script:     string(b[l.script.lo:l.script.hi]),
		Recovered:  true,
	}, nil
}

// decodeJSONBody decodes b (first: its first non-space byte) as the mediator's JSON
// object. isJSON is false when b is not JSON at all; err is then the JSON error, for the
// caller's message.
func decodeJSONBody(b []byte, first int) (body MediatorBody, isJSON bool, err error) {
	var v struct {
		TicketInfo base64Field `json:"ticket_info"`
		Event      *string     `json:"event"`
		Args       string      `json:"args"`
		Script     string      `json:"script"`
	}
	err = json.Unmarshal(b, &v)
	var (
		typeErr  *json.UnmarshalTypeError
		fieldErr *fieldError
	)
	switch {
	case err == nil && b[first] != '{':
		return MediatorBody{}, true, badInput("body must be a JSON object, not null") // the only value Unmarshal takes silently
	case err == nil:
		if dup, prev, ok := duplicateKey(b, mediatorFields[:]); ok {
			return MediatorBody{}, true, duplicateKeyError(dup, prev)
		}
		body = MediatorBody{TicketInfo: v.TicketInfo.data, Args: v.Args, Script: v.Script}
		if !v.TicketInfo.set {
			return MediatorBody{}, true, badInput(`body has no "ticket_info"`)
		}
		if v.Event == nil {
			return MediatorBody{}, true, badInput(`body has no "event"`)
		}
		if body.Event = *v.Event; body.Event == "" {
			return MediatorBody{}, true, badInput(`"event" is empty`)
		}
		return body, true, nil
	case errors.As(err, &fieldErr):
		return MediatorBody{}, true, badInput("%s", fieldErr.msg)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return MediatorBody{}, true, badInput("body must be a JSON object, not %s", article(typeErr.Value))
		}
		return MediatorBody{}, true, badInput("%q must be a string, not %s", typeErr.Field, article(typeErr.Value))
	}
	return MediatorBody{}, false, err
}

// mediatorFields are the keys of the mediator's JSON object.
var mediatorFields = [...]string{"ticket_info", "event", "args", "script"}

// duplicateKey reports the first key of the JSON object b that repeats an earlier
// one, and that earlier key as written. Keys are compared the way encoding/json matches
// them to the fields folded (the mediator's: exactly, or else case-insensitively), so
// "Event" repeats "event"; other keys only when they are equal. b must be valid JSON.
func duplicateKey(b []byte, folded []string) (dup, prev string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", "", false
	}
	seen := make(map[string]string, len(folded))
	var value json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", "", false
		}
		key, _ := t.(string)
		field := key
		for _, f := range folded {
			if strings.EqualFold(key, f) {
				field = f
				break
			}
		}
		if p, ok := seen[field]; ok {
			return key, p, true
		}
		seen[field] = key
		if err := dec.Decode(&value); err != nil {
			return "", "", false
		}
	}
	return "", "", false
}

func duplicateKeyError(dup, prev string) *InputError {
	if dup == prev {
		return badInput("duplicate key %q in the body: each key may appear only once (which one is meant?)", dup)
	}
	return badInput("duplicate key %q in the body: it is the same field as %q (JSON keys match case-insensitively); each key may appear only once", dup, prev)
}

// fieldError is a problem with one field's value, found while decoding it.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }

// base64Field decodes a JSON string of base64 straight from the body, without
// an intermediate string.
type base64Field struct {
	set  bool
	data []byte
}

func (f *base64Field) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		return nil // the same as missing
	}
	if len(raw) < 2 || raw[0] != '"' {
		return &fieldError{msg: fmt.Sprintf(`"ticket_info" must be a string, not %s`, article(jsonKind(raw)))}
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		// Escaped (for example \/ or \n from a JSON encoder): unquote first.
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return err
		}
		s = []byte(str)
	}
	data, err := decodeBase64(s)
	if err != nil {
		return err
	}
	f.set, f.data = true, data
	return nil
}

// decodeBase64 decodes standard base64, padded or not, ignoring CR and LF.
func decodeBase64(s []byte) ([]byte, error) {
	n := len(s) - bytes.Count(s, []byte{'\n'}) - bytes.Count(s, []byte{'\r'})
	enc := base64.StdEncoding
	if n%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(n))
	m, err := enc.Decode(out, s)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) && int(ce) < len(s) && s[ce] != '=' {
			r, _ := utf8.DecodeRune(s[ce:])
			return nil, &fieldError{msg: fmt.Sprintf(`"ticket_info" is not valid base64: unexpected %q at offset %d of the value`, r, int64(ce))}
		}
		return nil, &fieldError{msg: fmt.Sprintf(`"ticket_info" is not valid base64: bad padding or length (%d base64 characters)`, n)}
	}
	return out[:m], nil
}

// span is a range of the body.
type span struct{ lo, hi int }

// layout locates the fields of a body in the mediator's layout.
type layout struct {
	ticketInfo, event, args, script span
}

// parseLayout reads b by the mediator's layout. It returns why b does not
// have it, or "".
func parseLayout(b []byte) (l layout, fail string) {
	i := 0
	expect := func(tok string) bool {
		i = skipSpace(b, i)
		if !bytes.HasPrefix(b[i:], []byte(tok)) {
			fail = fmt.Sprintf("at byte %d: want %s", i, tok)
			return false
		}
		i += len(tok)
		return true
	}
	if !expect("{") || !expect(`"ticket_info"`) || !expect(":") || !expect(`"`) {
		return l, fail
	}
	end := bytes.IndexByte(b[i:], '"')
	if end < 0 {
		return l, fmt.Sprintf(`at byte %d: "ticket_info" is not terminated`, i)
	}
	l.ticketInfo = span{i, i + end}
	i += end + 1
	if !expect(",") || !expect(`"event"`) || !expect(":") || !expect(`"`) {
		return l, fail
	}
	lo := i
	for i < len(b) && (b[i] >= 'A' && b[i] <= 'Z' || b[i] == '_') {
		i++
	}
	if i == lo || i == len(b) || b[i] != '"' {
		return l, fmt.Sprintf(`at byte %d: want an event name of A-Z and _ followed by "`, i)
	}
	l.event = span{lo, i}
	i++
	if !expect(",") || !expect(`"args"`) || !expect(":") || !expect(`"`) {
		return l, fail
	}
	l.args.lo = i
	fail = l.argsAndScript(b, i) // fills l.args.hi and l.script
	return l, fail
}

// argsAndScript finds where args (starting at i) and script end: the script's value ends
// at the final `"` before the closing brace, args at the last `" , "script" : "` before
// that. It returns why b does not have that shape, or "".
func (l *layout) argsAndScript(b []byte, i int) string {
	e := len(b)
	for e > i && isSpace(b[e-1]) {
		e--
	}
	if e == i || b[e-1] != '}' {
		return "the body does not end with }"
	}
	e--
	for e > i && isSpace(b[e-1]) {
		e--
	}
	if e == i || b[e-1] != '"' {
		return `the body does not end with "}`
	}
	scriptEnd := e - 1

	// Args end at the last `" , "script" : "` before that.
	limit := scriptEnd
	for {
		k := bytes.LastIndex(b[i:limit], []byte(`"script"`))
		if k < 0 {
			return `no ", "script":" after "args"`
		}
		k += i
		limit = k
		// After: white space, colon, white space, opening quote.
		j := skipSpace(b, k+len(`"script"`))
		if j >= scriptEnd || b[j] != ':' {
			continue
		}
		j = skipSpace(b, j+1)
		if j >= scriptEnd || b[j] != '"' {
			continue
		}
		scriptStart := j + 1
		// Before: closing quote of args, white space, comma, white space.
		q := k
		for q > i && isSpace(b[q-1]) {
			q--
		}
		if q == i || b[q-1] != ',' {
			continue
		}
		q--
		for q > i && isSpace(b[q-1]) {
			q--
		}
		if q == i || b[q-1] != '"' {
			continue
		}
		l.args.hi = q - 1
		l.script = span{scriptStart, scriptEnd}
		return ""
	}
}

// The exact separators the seed mediator's PAYLOAD string writes.
var (
	seedOpen   = []byte(`{ "ticket_info":"`)
	seedEvent  = []byte("\",\n\"event\":\"")
	seedArgs   = []byte("\",\n\"args\":\"")
	seedScript = []byte("\",\n\"script\":\"")
	seedClose  = []byte("\"\n}")
)

// seedLayout reports whether b is exactly in the seed mediator's layout, and where its
// fields are.
func seedLayout(b []byte) (layout, bool) {
	if !bytes.HasPrefix(b, seedOpen) {
		return layout{}, false
	}
	l, fail := parseLayout(b)
	if fail != "" {
		return layout{}, false
	}
	ti := b[l.ticketInfo.lo:l.ticketInfo.hi]
	for _, c := range ti {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return layout{}, false // escapes or line breaks: not what `base64 -w0` writes
		}
	}
	ok := l.ticketInfo.lo == len(seedOpen) &&
		bytes.Equal(b[l.ticketInfo.hi:l.event.lo], seedEvent) &&
		bytes.Equal(b[l.event.hi:l.args.lo], seedArgs) &&
		bytes.Equal(b[l.args.hi:l.script.lo], seedScript) &&
		bytes.Equal(bytes.TrimRight(b[l.script.hi:], " \t\r\n"), seedClose)
	return l, ok
}

// needsEscape reports whether s holds a byte JSON would have to escape.
func needsEscape(s []byte) bool {
	for _, c := range s {
		if c == '"' || c == '\\' || c < 0x20 {
			return true
		}
	}
	return false
}

// notUTF8 names where the invalid byte of b is: in args or script when b has
// the mediator's layout, in the body otherwise.
func notUTF8(b []byte) *InputError {
	at := max(invalidUTF8At(b), 0)
	if l, fail := parseLayout(b); fail == "" {
		switch {
		case at >= l.args.lo && at < l.args.hi:
			return badInput(`"args" is not valid UTF-8 at byte %d of the body`, at)
		case at >= l.script.lo && at < l.script.hi:
			return badInput(`"script" is not valid UTF-8 at byte %d of the body`, at)
		}
	}
	return badInput("body is not valid UTF-8 at byte %d", at)
}

// invalidUTF8At is the offset of the first byte of b that is not valid UTF-8, or -1.
func invalidUTF8At(b []byte) int {
	for at := 0; at < len(b); {
		r, size := utf8.DecodeRune(b[at:])
		if r == utf8.RuneError && size == 1 {
			return at
		}
		at += size
	}
	return -1
}

// describeJSONError words a JSON syntax error with its byte offset.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	return err.Error()
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// article prefixes a JSON kind with "a" or "an".
func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	case "null", "nothing":
		return kind
	}
	return "a " + kind
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
