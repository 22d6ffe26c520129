package securechange

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/triggerflow/triggerflow/pkg/events"
)

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
// scripts, with encoding/xml's tokenizer (RawToken).
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
func DecodeTicketInfo(input []byte) (events.TicketInfo, error) {
	if !utf8.Valid(input) {
		return events.TicketInfo{}, xmlErrorf(ErrNotUTF8, "not valid UTF-8 at byte %d%s", invalidUTF8At(input), notUTF8Hint(input))
	}
	// A UTF-8 byte order mark is allowed; offsets below are into data.
	data := bytes.TrimPrefix(input, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return events.TicketInfo{}, xmlErrorf(ErrBadXML, "empty document")
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = rejectCharset

	r := xmlReader{dec: dec, t: ticketBuilder{in: data}}
	for {
		offset := int(dec.InputOffset())
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return events.TicketInfo{}, translateXMLError(err, dec)
		}
		if err := r.token(tok, offset); err != nil {
			return events.TicketInfo{}, err
		}
	}
	if !r.rootSeen {
		return events.TicketInfo{}, xmlErrorf(ErrBadXML, "no <ticket_info> element")
	}
	if r.t.depth > 0 {
		return events.TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: unexpected end of input: <%s> is not closed", line(dec), r.t.topName())
	}
	return r.t.result()
}

// declaredEncoding finds the encoding an XML declaration at the start of a document names.
var declaredEncoding = regexp.MustCompile(`^(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']`)

// notUTF8Hint says why a document may not be UTF-8: compressed (gzip's magic number), or
// declared in another encoding; "" when neither.
func notUTF8Hint(input []byte) string {
	if bytes.HasPrefix(input, []byte{0x1f, 0x8b}) {
		return " (it starts like gzip-compressed data: send it uncompressed)"
	}
	if m := declaredEncoding.FindSubmatch(input[:min(len(input), 256)]); m != nil && !strings.EqualFold(string(m[1]), "utf-8") {
		return fmt.Sprintf(" (its XML declaration says encoding=%q; only UTF-8 is read, which is what SecureChange sends: convert it, e.g. iconv -f %s -t UTF-8)", m[1], m[1])
	}
	return ""
}

// xmlReader takes the tokens of a ticket_info document to its builder, and
// rejects what DecodeTicketInfo does not accept.
type xmlReader struct {
	dec        *xml.Decoder
	t          ticketBuilder
	rootSeen   bool
	rootClosed bool
	anyToken   bool // a token other than white space was read
}

// token takes tok, which starts at offset of the input.
func (r *xmlReader) token(tok xml.Token, offset int) error {
	t := &r.t
	switch tok := tok.(type) {
	case xml.StartElement:
		r.anyToken = true
		return r.start(tok, offset)

	case xml.EndElement:
		if t.depth == 0 {
			return xmlErrorf(ErrBadXML, "line %d: unexpected </%s>", line(r.dec), qname(tok.Name))
		}
		if open := t.topName(); !isQName(open, tok.Name) {
			return xmlErrorf(ErrBadXML, "line %d: element <%s> closed by </%s>", line(r.dec), open, qname(tok.Name))
		}
		t.close(int(r.dec.InputOffset()))
		if t.depth == 0 {
			r.rootClosed = true
		}

	case xml.CharData:
		if t.depth > 0 {
			t.text(tok)
		} else if !isXMLSpace(tok) {
			where := "before <ticket_info>"
			if r.rootClosed {
				where = "after </ticket_info>"
			}
			return xmlErrorf(ErrBadXML, "line %d: text %s", line(r.dec), where)
		}

	case xml.ProcInst:
		if tok.Target == "xml" && (r.anyToken || r.rootSeen) {
			return xmlErrorf(ErrBadXML, "line %d: the XML declaration must come first", line(r.dec))
		}
		r.anyToken = true

	case xml.Directive:
		if bytes.HasPrefix(tok, []byte("DOCTYPE")) {
			return xmlErrorf(ErrDoctype, "DOCTYPE declarations are not accepted (entity expansion risk)")
		}
		return xmlErrorf(ErrBadXML, "line %d: unexpected declaration <!%s>", line(r.dec), truncate(tok, 20))

	case xml.Comment:
		r.anyToken = true
	}
	return nil
}

// start opens the element tok, which starts at offset of the input: '<' and
// its name as written.
func (r *xmlReader) start(tok xml.StartElement, offset int) error {
	lo := offset + 1
	hi := lo + len(tok.Name.Local)
	if tok.Name.Space != "" {
		hi += len(tok.Name.Space) + 1
	}
	switch {
	case r.t.depth == MaxXMLDepth:
		return xmlErrorf(ErrTooDeep, "line %d: nesting deeper than %d levels (at <%s>)", line(r.dec), MaxXMLDepth, qname(tok.Name))
	case r.t.depth > 0:
		r.t.open(lo, hi)
	case r.rootClosed:
		return xmlErrorf(ErrBadXML, "line %d: element <%s> after the end of <ticket_info>", line(r.dec), qname(tok.Name))
	case tok.Name.Space != "" || tok.Name.Local != "ticket_info":
		return xmlErrorf(ErrBadXML, "line %d: root element is <%s>, want <ticket_info>", line(r.dec), qname(tok.Name))
	default:
		r.rootSeen = true
		r.t.openRoot(lo, hi)
	}
	return nil
}

// translateXMLError turns an encoding/xml error into a decodeError.
func translateXMLError(err error, dec *xml.Decoder) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return xmlErrorf(ErrBadXML, "line %d: %s", se.Line, se.Msg)
	}
	var ce *charsetError
	if errors.As(err, &ce) {
		return xmlErrorf(ErrBadXML, "declared encoding %s is not supported, only UTF-8", quoteID(ce.label))
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

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
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
