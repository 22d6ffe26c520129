package mailer

import (
	"fmt"
	"net/mail"
	"sort"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/triggerflow/triggerflow/pkg/platform/failure"
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
	// headers the mailer writes (From, To, Subject, Content-Type, …).
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
	g.Subject(msg.Subject)
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
		g.SetGenHeader(gomail.Header(k), v)
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
