package mailer

import (
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// Message is one email.
type Message struct {
	To, Cc []string // addresses, "a@example.com" or "Name <a@example.com>"; To and Cc are the envelope recipients
	// Subject in UTF-8; non-ASCII is encoded per RFC 2047.
	Subject string
	Text    string // the text/plain body
	// HTML, when set, makes the message multipart/alternative: Text, then HTML.
	HTML string
	// Headers are extra headers, e.g. X-Triggerflow-Operation. They may not replace the
	// headers the mailer writes (From, To, Subject, Content-Type, …). Values of printable
	// ASCII are written as they are (folded at spaces when long), others (and those
	// holding "=?") RFC 2047-encoded.
	Headers map[string]string
	// MessageID, e.g. "<opid@triggerflow>" (the angle brackets are optional), is the
	// Message-ID: derive it from the operation, so a retried send can be recognised by
	// receivers. Empty: a random one.
	MessageID string
}

// reservedHeaders are written by the mailer; Message.Headers may not set them.
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "mime-version": true, "content-type": true,
	"content-transfer-encoding": true, "sender": true, "reply-to": true,
}

// build turns msg into a go-mail message and its envelope recipients (To, then Cc,
// without duplicates). Every error is permanent: the message itself is wrong.
func (m *Mailer) build(msg Message) (*gomail.Msg, []string, error) {
	to, err := parseAddrs("to", msg.To)
	if err != nil {
		return nil, nil, failure.Permanent(err)
	}
	cc, err := parseAddrs("cc", msg.Cc)
	if err != nil {
		return nil, nil, failure.Permanent(err)
	}
	var rcpts []string
	seen := map[string]bool{}
	for _, a := range append(append([]*mail.Address(nil), to...), cc...) {
		if k := strings.ToLower(a.Address); !seen[k] {
			seen[k] = true
			rcpts = append(rcpts, a.Address)
		}
	}
	if len(rcpts) == 0 {
		return nil, nil, failure.Permanent(fmt.Errorf("message has no recipient (to and cc are empty)"))
	}
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return nil, nil, failure.Permanent(fmt.Errorf("subject contains a line break"))
	}

	g := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	g.FromMailAddress(m.from)
	if len(to) > 0 {
		g.ToMailAddress(to...)
	}
	if len(cc) > 0 {
		g.CcMailAddress(cc...)
	}
	// go-mail folds a header before its first word when that word does not fit on the
	// name's line, so a long encoded subject came out as "Subject:" CRLF " =?UTF-8?q?…":
	// the mailer folds its headers itself (foldHeader) and hands them over preformatted.
	// Bytes that are not UTF-8 become U+FFFD, as they would on display.
	subject := strings.ToValidUTF8(msg.Subject, "\uFFFD")
	g.SetGenHeaderPreformatted(gomail.HeaderSubject, foldHeader(string(gomail.HeaderSubject), subject, true))
	g.SetDate()
	if msg.MessageID == "" {
		g.SetMessageID()
	} else {
		id := strings.TrimSuffix(strings.TrimPrefix(msg.MessageID, "<"), ">")
		if l, r, ok := strings.Cut(id, "@"); !ok || l == "" || r == "" || strings.ContainsAny(id, "<> \t\r\n") {
			return nil, nil, failure.Permanent(fmt.Errorf("message id %q is not of the form <left@right>", msg.MessageID))
		}
		g.SetMessageIDWithValue(id)
	}
	names := make([]string, 0, len(msg.Headers))
	for k := range msg.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := msg.Headers[k]
		if !validHeaderName(k) {
			return nil, nil, failure.Permanent(fmt.Errorf("header name %q is not valid", k))
		}
		if reservedHeaders[strings.ToLower(k)] {
			return nil, nil, failure.Permanent(fmt.Errorf("header %s is set by the mailer, not by Message.Headers", k))
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, nil, failure.Permanent(fmt.Errorf("header %s: value contains a line break", k))
		}
		folded := foldHeader(k, strings.ToValidUTF8(v, "\uFFFD"), false)
		if longestLine(k+": "+folded) > maxHeaderLine {
			return nil, nil, failure.Permanent(fmt.Errorf("header %s: a word of the value is longer than a header line may be (%d characters)", k, maxHeaderLine))
		}
		g.SetGenHeaderPreformatted(gomail.Header(k), folded)
	}
	if msg.HTML == "" {
		g.SetBodyString(gomail.TypeTextPlain, msg.Text)
	} else {
		g.SetBodyString(gomail.TypeTextPlain, msg.Text)
		g.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	return g, rcpts, nil
}

// parseAddrs parses the addresses of field; an invalid one is named in the error.
func parseAddrs(field string, addrs []string) ([]*mail.Address, error) {
	out := make([]*mail.Address, 0, len(addrs))
	for i, s := range addrs {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not an email address: %w", field, i, s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// validHeaderName reports whether k is a header field name (RFC 5322 ftext).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r < 33 || r > 126 || r == ':' {
			return false
		}
	}
	return true
}

// Header line limits: a line SHOULD be at most 78 characters and MUST be at most 998
// (RFC 5322 2.1.1); an encoded-word is at most 75 characters and a line holding one at
// most 76 (RFC 2047 2).
const (
	maxLine        = 78
	maxHeaderLine  = 998
	maxEncodedWord = 75
	maxEncodedLine = 76
)

// foldHeader returns the value of the header field name, ready to be written after
// "name: " and folded (CRLF before a space) so that its lines keep to the limits above,
// its first part always on the name's own line.
//
// A value of printable ASCII is folded at its spaces. A value with other characters,
// or one that holds "=?" and so could be taken for an encoded-word, is written as RFC
// 2047 encoded-words (UTF-8, Q encoding), one per line, the first on the name's line;
// so is a printable value with a word too long for a 78-character line when
// encodeLong is set (the subject), while without it (extra headers, whose ASCII text
// receivers may match literally) such a word stays whole on a longer line.
func foldHeader(name, value string, encodeLong bool) string {
	if isPrintableASCII(value) && !strings.Contains(value, "=?") {
		folded := foldSpaces(len(name)+2, value)
		if !encodeLong || longestLine(name+": "+folded) <= maxLine {
			return folded
		}
	}
	words := encodeWords(value, maxEncodedLine-len(name)-2)
	return strings.Join(words, "\r\n ")
}

// foldSpaces folds value, which starts after indent characters on the first line,
// before spaces that are followed by a non-space (so that no line is blank), each line
// filled as far as 78 characters allow.
func foldSpaces(indent int, value string) string {
	if indent+len(value) <= maxLine {
		return value
	}
	var b strings.Builder
	lineLen := indent
	start := 0
	for start < len(value) {
		// The next segment runs to the next fold point: a space followed by a non-space.
		end := len(value)
		for i := start + 1; i+1 < len(value); i++ {
			if value[i] == ' ' && value[i+1] != ' ' {
				end = i
				break
			}
		}
		seg := value[start:end]
		if start > 0 && lineLen+len(seg) > maxLine {
			b.WriteString("\r\n")
			lineLen = 0
		}
		b.WriteString(seg)
		lineLen += len(seg)
		start = end
	}
	return b.String()
}

// encodeWords encodes value as UTF-8 Q encoded-words (RFC 2047 4.2): the first at most
// first characters long (at least one character of value in it), the others at most 75,
// never splitting a character.
func encodeWords(value string, first int) []string {
	const prefix, suffix = "=?UTF-8?q?", "?="
	var words []string
	var b strings.Builder
	limit := first
	flush := func() {
		words = append(words, prefix+b.String()+suffix)
		b.Reset()
		limit = maxEncodedWord
	}
	for _, r := range value {
		var buf [utf8.UTFMax]byte
		enc := qEncode(buf[:utf8.EncodeRune(buf[:], r)])
		if b.Len() > 0 && len(prefix)+b.Len()+len(enc)+len(suffix) > limit {
			flush()
		}
		b.WriteString(enc)
	}
	if b.Len() > 0 || len(words) == 0 {
		flush()
	}
	return words
}

// qEncode encodes p in RFC 2047's Q encoding as mime.QEncoding does: "_" for a space,
// printable ASCII but "=", "?" and "_" as itself, any other byte as =XX.
func qEncode(p []byte) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range p {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= '!' && c <= '~' && c != '=' && c != '?' && c != '_':
			b.WriteByte(c)
		default:
			b.WriteByte('=')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
		}
	}
	return b.String()
}

// isPrintableASCII reports whether s has only printable ASCII characters and spaces.
func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// longestLine is the length of the longest CRLF-separated line of s.
func longestLine(s string) int {
	longest := 0
	for line := range strings.SplitSeq(s, "\r\n") {
		longest = max(longest, len(line))
	}
	return longest
}
