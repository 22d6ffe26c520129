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

// Fields of ticket_info collected as text; the stage fields are
// fStageID+2*stage and fStageName+2*stage.
const (
	fID = iota
	fSubject
	fCreateDate
	fUpdateDate
	fStageID
	fStageName
	nFields = fStageID + 2*nStages
)

// Stages, in the order of the stage fields.
const (
	stageCurrent = iota
	stageCompletion
	stageOpenRequest
	nStages
)

type elemKind uint8

const (
	kIgnore     elemKind = iota // anything whose content is not looked at
	kRoot                       // <ticket_info>
	kLeaf                       // an element whose text is field
	kStage                      // a stage container; its stage is stage
	kCompletion                 // <completion_data>
	kExtra                      // an unknown child of the root, starting at start
)

type frame struct {
	name  xml.Name
	kind  elemKind
	field uint8 // kLeaf: the field
	stage uint8 // kStage: the stage
	start int   // kLeaf: arena offset of its text; kExtra: input offset
}

// span is a range of the arena.
type span struct{ lo, hi int }

type extraSpan struct {
	name string
	span
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
		stack      [MaxXMLDepth]frame
		depth      int
		arenaBuf   [512]byte
		arena      = arenaBuf[:0] // the text of all fields and extras
		fields     [nFields]span
		seen       [nFields]bool
		stageSeen  [nStages]bool
		extraBuf   [8]extraSpan
		extras     = extraBuf[:0]
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
			if depth == 0 {
				if rootClosed {
					return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: element <%s> after the end of <ticket_info>", line(dec), qname(tok.Name))
				}
				if tok.Name.Space != "" || tok.Name.Local != "ticket_info" {
					return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: root element is <%s>, want <ticket_info>", line(dec), qname(tok.Name))
				}
				rootSeen = true
				stack[0] = frame{name: tok.Name, kind: kRoot}
				depth = 1
				continue
			}
			if depth == MaxXMLDepth {
				return TicketInfo{}, xmlErrorf(ErrTooDeep, "line %d: nesting deeper than %d levels (at <%s>)", line(dec), MaxXMLDepth, qname(tok.Name))
			}
			f := frame{name: tok.Name, kind: kIgnore}
			parent := &stack[depth-1]
			local := tok.Name.Local
			if tok.Name.Space != "" {
				local = "" // prefixed names are never known elements
			}
			switch parent.kind {
			case kRoot:
				switch local {
				case "id":
					f.kind, f.field = kLeaf, fID
				case "subject":
					f.kind, f.field = kLeaf, fSubject
				case "createDate":
					f.kind, f.field = kLeaf, fCreateDate
				case "updateDate":
					f.kind, f.field = kLeaf, fUpdateDate
				case "current_stage":
					f.kind, f.stage = kStage, stageCurrent
				case "open_request_stage":
					f.kind, f.stage = kStage, stageOpenRequest
				case "completion_data":
					f.kind = kCompletion
					// The last <completion_data> wins, even without a <stage>.
					stageSeen[stageCompletion] = false
				default:
					f.kind, f.start = kExtra, offset
				}
			case kCompletion:
				if local == "stage" {
					f.kind, f.stage = kStage, stageCompletion
				}
			case kStage:
				switch local {
				case "id":
					f.kind, f.field = kLeaf, uint8(fStageID+2*int(parent.stage))
				case "name":
					f.kind, f.field = kLeaf, uint8(fStageName+2*int(parent.stage))
				}
			}
			switch f.kind {
			case kLeaf:
				f.start = len(arena)
			case kStage:
				// The last stage element wins as a whole.
				stageSeen[f.stage] = true
				fields[fStageID+2*int(f.stage)] = span{}
				fields[fStageName+2*int(f.stage)] = span{}
				seen[fStageID+2*int(f.stage)] = false
				seen[fStageName+2*int(f.stage)] = false
			}
			stack[depth] = f
			depth++

		case xml.EndElement:
			if depth == 0 {
				return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: unexpected </%s>", line(dec), qname(tok.Name))
			}
			f := &stack[depth-1]
			if tok.Name != f.name {
				return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: element <%s> closed by </%s>", line(dec), qname(f.name), qname(tok.Name))
			}
			switch f.kind {
			case kLeaf:
				// Keep only the trimmed text in the arena.
				t := bytes.TrimSpace(arena[f.start:])
				n := copy(arena[f.start:], t)
				arena = arena[:f.start+n]
				fields[f.field] = span{f.start, f.start + n}
				seen[f.field] = true
			case kExtra:
				lo := len(arena)
				arena = append(arena, data[f.start:dec.InputOffset()]...)
				extras = append(extras, extraSpan{name: qname(f.name), span: span{lo, len(arena)}})
			case kRoot:
				rootClosed = true
			}
			depth--

		case xml.CharData:
			if depth == 0 {
				if !isXMLSpace(tok) {
					where := "before <ticket_info>"
					if rootClosed {
						where = "after </ticket_info>"
					}
					return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: text %s", line(dec), where)
				}
				continue
			}
			if stack[depth-1].kind == kLeaf {
				arena = append(arena, tok...)
			}

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
	if depth > 0 {
		return TicketInfo{}, xmlErrorf(ErrBadXML, "line %d: unexpected end of input: <%s> is not closed", line(dec), qname(stack[depth-1].name))
	}

	if !seen[fID] {
		return TicketInfo{}, xmlErrorf(ErrMissingTicketID, "missing <id>")
	}
	id := arena[fields[fID].lo:fields[fID].hi]
	if len(id) == 0 {
		return TicketInfo{}, xmlErrorf(ErrMissingTicketID, "<id> is empty")
	}
	if !isTicketNumber(id) {
		return TicketInfo{}, xmlErrorf(ErrBadTicketID, "<id> %s is not a ticket number", quote(string(id)))
	}

	// All strings share one allocation.
	text := string(arena)
	field := func(i int) string { return text[fields[i].lo:fields[i].hi] }
	info := TicketInfo{
		ID:         field(fID),
		Subject:    field(fSubject),
		CreateDate: field(fCreateDate),
		UpdateDate: field(fUpdateDate),
	}
	created, cok := epochMillis(info.CreateDate)
	updated, uok := epochMillis(info.UpdateDate)
	if cok || uok {
		times := new([2]time.Time)
		if cok {
			times[0] = created
			info.CreatedAt = &times[0]
		}
		if uok {
			times[1] = updated
			info.UpdatedAt = &times[1]
		}
	}
	if stageSeen[stageCurrent] || stageSeen[stageCompletion] || stageSeen[stageOpenRequest] {
		stages := new([nStages]Stage)
		for s := range nStages {
			if stageSeen[s] {
				stages[s] = Stage{ID: field(fStageID + 2*s), Name: field(fStageName + 2*s)}
			}
		}
		if stageSeen[stageCurrent] {
			info.CurrentStage = &stages[stageCurrent]
		}
		if stageSeen[stageCompletion] {
			info.CompletionStage = &stages[stageCompletion]
		}
		if stageSeen[stageOpenRequest] {
			info.OpenRequestStage = &stages[stageOpenRequest]
		}
	}
	if len(extras) > 0 {
		info.Extra = make([]RawElement, len(extras))
		for i, e := range extras {
			info.Extra[i] = RawElement{Name: e.name, XML: text[e.lo:e.hi]}
		}
	}
	return info, nil
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
