package mailpittest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// Address is a mailbox as Mailpit's API returns it.
type Address struct {
	Name    string // the display name, decoded
	Address string
}

// Message is a message Mailpit stored, read back through its REST API
// (/api/v1/message/{ID}, …/headers and …/raw).
type Message struct {
	ID        string // Mailpit's database ID
	MessageID string // the Message-ID header, without angle brackets
	// ReturnPath is the envelope sender: Mailpit writes the MAIL FROM address into the
	// Return-Path header it adds to the message.
	ReturnPath string
	From       Address
	To, Cc     []Address
	// Bcc holds the addresses of a Bcc header and the envelope recipients (RCPT TO)
	// that are in no To, Cc or Bcc header: Mailpit adds those to Bcc. So the envelope
	// recipients are within To, Cc and Bcc, and Bcc is empty when each was in To or Cc.
	Bcc      []Address
	ReplyTo  []Address
	Subject  string // decoded (RFC 2047) by Mailpit
	Text     string // the text/plain body, decoded
	HTML     string // the text/html body, decoded
	Username string // the SMTP AUTH user name; "" without AUTH
	Date     time.Time
	Size     uint64
	// Headers are the stored message's header fields, values raw (not RFC 2047-decoded).
	Headers map[string][]string
	// Raw is the stored message: as received, with the headers Mailpit adds first
	// (Return-Path, and Bcc for envelope-only recipients).
	Raw []byte
}

// Recipients returns the addresses of To, Cc and Bcc, in that order.
func (m Message) Recipients() []string {
	var out []string
	for _, l := range [][]Address{m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			out = append(out, a.Address)
		}
	}
	return out
}

// summary is an entry of GET /api/v1/messages.
type summary struct {
	ID string
}

// list is GET /api/v1/messages: the messages' IDs, oldest first, and the total.
func (m *Mailpit) list() ([]string, int, error) {
	var res struct {
		Total    int       `json:"total"`
		Messages []summary `json:"messages"`
	}
	if err := m.getJSON("/api/v1/messages?limit=10000", &res); err != nil {
		return nil, 0, err
	}
	ids := make([]string, 0, len(res.Messages))
	for _, s := range res.Messages {
		ids = append(ids, s.ID)
	}
	slices.Reverse(ids) // the API lists the newest first
	return ids, res.Total, nil
}

// Messages returns every stored message, oldest first.
func (m *Mailpit) Messages(t testing.TB) []Message {
	t.Helper()
	ids, _, err := m.list()
	if err != nil {
		t.Fatalf("mailpittest: %v", err)
	}
	out := make([]Message, 0, len(ids))
	for _, id := range ids {
		msg, err := m.message(id)
		if err != nil {
			t.Fatalf("mailpittest: %v", err)
		}
		out = append(out, msg)
	}
	return out
}

// WaitMessages polls until at least n messages are stored and returns them all,
// oldest first; it fails the test when timeout passes first.
func (m *Mailpit) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	natstest.CheckFor(t, timeout, 20*time.Millisecond, func() error {
		_, total, err := m.list()
		if err == nil && total < n {
			err = fmt.Errorf("mailpittest: %d messages, want %d", total, n)
		}
		return err
	})
	return m.Messages(t)
}

// DeleteAll deletes every stored message.
func (m *Mailpit) DeleteAll(t testing.TB) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, m.APIURL+"/api/v1/messages", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if _, err := m.do(req); err != nil {
		t.Fatalf("mailpittest: %v", err)
	}
}

// message reads one message with its headers and raw source.
func (m *Mailpit) message(id string) (Message, error) {
	var msg struct {
		Message
		From *Address // null when the message has no From
	}
	p := "/api/v1/message/" + url.PathEscape(id)
	if err := m.getJSON(p, &msg); err != nil {
		return Message{}, err
	}
	out := msg.Message
	if msg.From != nil {
		out.From = *msg.From
	}
	if err := m.getJSON(p+"/headers", &out.Headers); err != nil {
		return Message{}, err
	}
	raw, err := m.get(p + "/raw")
	if err != nil {
		return Message{}, err
	}
	out.Raw = raw
	return out, nil
}

func (m *Mailpit) getJSON(path string, v any) error {
	data, err := m.get(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (m *Mailpit) get(path string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, m.APIURL+path, nil)
	if err != nil {
		return nil, err
	}
	return m.do(req)
}

func (m *Mailpit) do(req *http.Request) ([]byte, error) {
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}
