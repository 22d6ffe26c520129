package events

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Stage is a workflow step as ticket_info names it.
type Stage struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// RawElement is an unknown top-level child of <ticket_info>, kept so that no
// information SecureChange sends is lost.
type RawElement struct {
	Name string `json:"name"` // element name as written, prefix:local when prefixed
	XML  string `json:"xml"`  // outer XML, byte for byte as received
}

// TicketInfo is the ticket_info XML SecureChange hands to a trigger script on
// stdin (and the mediator forwards as base64):
//
//	<ticket_info>
//	    <id>1234</id>
//	    <subject>Allow web to db</subject>
//	    <createDate>1700000000000</createDate>
//	    <updateDate>1700000360000</updateDate>
//	    <current_stage><id>3</id><name>Approval</name></current_stage>
//	    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
//	    <completion_data><stage><id>2</id><name>Auto Target</name></stage></completion_data>
//	</ticket_info>
//
// Text values are trimmed of surrounding white space. A stage pointer is
// non-nil when its element was present, even if empty.
type TicketInfo struct {
	ID               string       `json:"id"`
	Subject          string       `json:"subject,omitempty"`
	CreateDate       string       `json:"create_date,omitempty"`        // exactly as given
	CreatedAt        *time.Time   `json:"created_at,omitempty"`         // set only when CreateDate is epoch milliseconds (digits only, year ≤ 9999), UTC
	UpdateDate       string       `json:"update_date,omitempty"`        // exactly as given
	UpdatedAt        *time.Time   `json:"updated_at,omitempty"`         // as CreatedAt, for UpdateDate
	CurrentStage     *Stage       `json:"current_stage,omitempty"`      // <current_stage><id/><name/></current_stage>
	CompletionStage  *Stage       `json:"completion_stage,omitempty"`   // <completion_data><stage><id/><name/></stage></completion_data>
	OpenRequestStage *Stage       `json:"open_request_stage,omitempty"` // <open_request_stage><id/><name/></open_request_stage>
	Extra            []RawElement `json:"extra,omitempty"`              // unknown elements, in order, never rejected
}

// Errors returned by DecodeTicketInfo wrap exactly one of these; the message
// of the returned error says what is wrong and where.
var (
	ErrBadXML          = errors.New("malformed ticket_info XML")
	ErrDoctype         = errors.New("DOCTYPE in ticket_info XML")
	ErrTooDeep         = errors.New("ticket_info XML nested too deeply")
	ErrNotUTF8         = errors.New("ticket_info XML is not valid UTF-8")
	ErrMissingTicketID = errors.New("ticket_info XML has no ticket id")
	ErrBadTicketID     = errors.New("ticket_info XML has an invalid ticket id")
)

// MaxXMLDepth is the deepest element nesting DecodeTicketInfo accepts; the
// root <ticket_info> is level 1.
const MaxXMLDepth = 32

// maxTicketIDDigits is the longest ticket number accepted (an int64).
const maxTicketIDDigits = 19

// decodeError is a DecodeTicketInfo error: a sentinel and a precise message.
type decodeError struct {
	kind error
	msg  string
}

func (e *decodeError) Error() string { return "ticket_info XML: " + e.msg }
func (e *decodeError) Unwrap() error { return e.kind }

func xmlErrorf(kind error, format string, args ...any) error {
	return &decodeError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// charsetError is what rejectCharset makes encoding/xml return for a
// declared encoding other than UTF-8.
type charsetError struct{ label string }

func (e *charsetError) Error() string { return "unsupported encoding " + e.label }

func rejectCharset(label string, _ io.Reader) (io.Reader, error) {
	return nil, &charsetError{label: label}
}

var utf8BOM = []byte("\xef\xbb\xbf")

// DecodeTicketInfo decodes the ticket_info XML SecureChange passes to trigger
// scripts.
//
// It is lenient about content and strict about form: unknown top-level
// elements are kept in Extra with their exact bytes, unknown children of the
// stage elements are ignored, duplicate known elements are allowed (the last
// one wins), CDATA sections and the predefined entities are decoded. But the
// input must be well-formed UTF-8 XML whose root is <ticket_info>, with
// matching tags, nothing but comments and white space after the root, no
// DOCTYPE, no encoding other than UTF-8 declared, at most MaxXMLDepth levels of
// nesting, and an <id> of 1 to 19 digits. Errors wrap ErrBadXML, ErrDoctype,
// ErrTooDeep, ErrNotUTF8, ErrMissingTicketID or ErrBadTicketID.
func DecodeTicketInfo(input []byte) (TicketInfo, error) {
	if info, ok := decodeTicketInfoFast(input); ok {
		return info, nil
	}
	return decodeTicketInfoFull(input)
}

// decodeTicketInfoFull is DecodeTicketInfo on encoding/xml, for all input.
func decodeTicketInfoFull(input []byte) (TicketInfo, error) {
	if !utf8.Valid(input) {
		return TicketInfo{}, xmlErrorf(ErrNotUTF8, "not valid UTF-8 at byte %d", invalidUTF8At(input))
	}
	// A UTF-8 byte order mark is allowed; offsets below are into data.
	data := bytes.TrimPrefix(input, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return TicketInfo{}, xmlErrorf(ErrBadXML, "empty document")
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = rejectCharset

	var (
		t          = ticketBuilder{in: data}
		rootSeen   bool
		rootClosed bool
		anyToken   bool // a token other than white space was read
	)
	for {
		offset := int(dec.InputOffset())
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return TicketInfo{}, translateXMLError(err, dec)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			anyToken = true
			// The element starts at data[offset], '<' and its name as written.
			lo := offset + 1
			hi := lo + len(tok.Name.Local)
			if tok.Name.Space != "" {
				hi += len(tok.Name.Space) + 1
			}
			if t.depth == 0 {
				if rootClosed {
					return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: element <%s> after the end of <ticket_info>", line(dec), qname(tok.Name))
				}
				if tok.Name.Space != "" || tok.Name.Local != "ticket_info" {
					return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: root element is <%s>, want <ticket_info>", line(dec), qname(tok.Name))
				}
				rootSeen = true
				t.openRoot(lo, hi)
				continue
			}
			if t.depth == MaxXMLDepth {
				return TicketInfo{}, xmlErrorf(ErrTooDeep, "line %d: nesting deeper than %d levels (at <%s>)", line(dec), MaxXMLDepth, qname(tok.Name))
			}
			t.open(lo, hi)

		case xml.EndElement:
			if t.depth == 0 {
				return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: unexpected </%s>", line(dec), qname(tok.Name))
			}
			if open := t.topName(); !isQName(open, tok.Name) {
				return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: element <%s> closed by </%s>", line(dec), open, qname(tok.Name))
			}
			t.close(int(dec.InputOffset()))
			if t.depth == 0 {
				rootClosed = true
			}

		case xml.CharData:
			if t.depth == 0 {
				if !isXMLSpace(tok) {
					where := "before <ticket_info>"
					if rootClosed {
						where = "after </ticket_info>"
					}
					return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: text %s", line(dec), where)
				}
				continue
			}
			t.text(tok)

		case xml.ProcInst:
			if tok.Target == "xml" && (anyToken || rootSeen) {
				return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: the XML declaration must come first", line(dec))
			}
			anyToken = true

		case xml.Directive:
			if bytes.HasPrefix(tok, []byte("DOCTYPE")) {
				return TicketInfo{}, xmlErrorf(ErrDoctype, "DOCTYPE declarations are not accepted (entity expansion risk)")
			}
			return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: unexpected declaration <!%s>", line(dec), truncate(tok, 20))

		case xml.Comment:
			anyToken = true
		}
	}
	if !rootSeen {
		return TicketInfo{}, xmlErrorf(ErrBadXML, "no <ticket_info> element")
	}
	if t.depth > 0 {
		return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: unexpected end of input: <%s> is not closed", line(dec), t.topName())
	}
	return t.result()
}

// translateXMLError turns an encoding/xml error into a decodeError.
func translateXMLError(err error, dec *xml.Decoder) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return xmlErrorf(ErrBadXML, "line %d: %s", se.Line, se.Msg)
	}
	var ce *charsetError
	if errors.As(err, &ce) {
		return xmlErrorf(ErrBadXML, "declared encoding %s is not supported, only UTF-8", quote(ce.label))
	}
	return xmlErrorf(ErrBadXML, "line %d: %s", line(dec), strings.TrimPrefix(err.Error(), "xml: "))
}

func line(dec *xml.Decoder) int {
	l, _ := dec.InputPos()
	return l
}

// qname returns an element name as written.
func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// isQName reports whether b is n as written.
func isQName(b []byte, n xml.Name) bool {
	if n.Space == "" {
		return string(b) == n.Local
	}
	return len(b) == len(n.Space)+1+len(n.Local) && string(b[:len(n.Space)]) == n.Space &&
		b[len(n.Space)] == ':' && string(b[len(n.Space)+1:]) == n.Local
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// invalidUTF8At returns the offset of the first byte of b that is not part of
// valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// isXMLSpace reports whether b is only XML white space.
func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func isDigits[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isTicketNumber(b []byte) bool {
	return len(b) <= maxTicketIDDigits && isDigits(b)
}

// maxEpochMillis is the last millisecond of year 9999, the latest instant
// encoding/json can represent.
var maxEpochMillis = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// epochMillis parses s when it is Unix time in milliseconds, the way
// SecureChange writes createDate and updateDate.
func epochMillis(s string) (time.Time, bool) {
	if !isDigits(s) {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms > maxEpochMillis {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// IsTestPayload reports whether ticket_info is what SecureChange sends when
// an administrator presses "Test" on a script: nothing, white space, or an
// empty <ticket_info/> root (optionally after an XML declaration). Such a
// payload carries no ticket and is answered without being published.
func IsTestPayload(ticketInfo []byte) bool {
	b := bytes.TrimSpace(bytes.TrimPrefix(ticketInfo, utf8BOM))
	if len(b) == 0 {
		return true
	}
	if bytes.HasPrefix(b, []byte("<?xml")) {
		end := bytes.Index(b, []byte("?>"))
		if end < 0 {
			return false
		}
		b = bytes.TrimSpace(b[end+2:])
	}
	rest, ok := bytes.CutPrefix(b, []byte("<ticket_info"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	if string(rest) == "/>" {
		return true
	}
	rest, ok = bytes.CutPrefix(rest, []byte(">"))
	if !ok {
		return false
	}
	rest, ok = bytes.CutPrefix(bytes.TrimSpace(rest), []byte("</ticket_info"))
	return ok && string(bytes.TrimSpace(rest)) == ">"
}
