package mailer_test

import (
	"bytes"
	"context"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// longSubject has 120 characters: umlauts, CJK and an emoji.
const longSubject = "Änderung genehmigt: Größere Firewall-Regel für Büro Zürich – 変更リクエストが承認されました 🚀 Ticket #4711, bitte prüfen und bestätigen"

// plainServer is a server without TLS or AUTH, and the config to reach it.
func plainServer(t *testing.T, opts ...smtptest.Option) (*smtptest.Server, config.SMTP) {
	t.Helper()
	srv := smtptest.New(t, opts...)
	return srv, config.SMTP{
		Host: srv.Host, Port: srv.Port, StartTLS: ptr(false),
		From: "triggerflow <triggerflow@example.com>", Timeout: wait,
	}
}

// TestEnvelopeIsRFC5321 checks the raw MAIL FROM and RCPT TO lines: the paths in angle
// brackets (RFC 5321 4.1.2), for To and Cc recipients, also over STARTTLS.
func TestEnvelopeIsRFC5321(t *testing.T) {
	t.Parallel()
	srv, c := starttlsServer(t)
	m := newMailer(t, c, nil)
	err := m.Send(context.Background(), mailer.Message{
		To: []string{"Alice <alice@example.com>", "bob@example.com"}, Cc: []string{"Ops Team <ops@example.com>", "BOB@example.com"},
		Subject: "hello", Text: "body\n",
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := srv.WaitMessages(t, 1, wait)[0]
	want := []string{
		"MAIL FROM:<triggerflow@example.com> BODY=8BITMIME",
		"RCPT TO:<alice@example.com>",
		"RCPT TO:<bob@example.com>",
		"RCPT TO:<ops@example.com>",
		"DATA",
	}
	if !slices.Equal(msg.Commands, want) {
		t.Errorf("commands of the transaction:\n got %q\nwant %q", msg.Commands, want)
	}
	all := srv.Commands()
	if !slices.Contains(all, "STARTTLS") || !slices.Contains(all, "QUIT") && !slices.Contains(all, "DATA") {
		t.Errorf("Commands() = %q", all)
	}
	for _, l := range all {
		if verb, arg, _ := strings.Cut(l, ":"); (verb == "MAIL FROM" || verb == "RCPT TO") && !strings.HasPrefix(arg, "<") {
			t.Errorf("%q: the path is not in angle brackets", l)
		}
	}
}

// TestEnvelopeSMTPUTF8 checks that SMTPUTF8 is asked for exactly when an envelope
// address is not ASCII, and that such an address fails permanently, before MAIL, at a
// server without the extension.
func TestEnvelopeSMTPUTF8(t *testing.T) {
	t.Parallel()
	srv, c := plainServer(t, smtptest.WithSMTPUTF8())
	m := newMailer(t, c, nil)
	for _, msg := range []mailer.Message{
		{To: []string{"alice@example.com"}, Subject: "ascii", Text: "x"},
		{To: []string{"Jörg <jörg@bücher.example>"}, Cc: []string{`"john doe"@example.com`}, Subject: "utf-8", Text: "x"},
	} {
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send %s: %v", msg.Subject, err)
		}
	}
	got := srv.WaitMessages(t, 2, wait)
	if want := []string{"MAIL FROM:<triggerflow@example.com> BODY=8BITMIME", "RCPT TO:<alice@example.com>", "DATA"}; !slices.Equal(got[0].Commands, want) {
		t.Errorf("ASCII envelope:\n got %q\nwant %q", got[0].Commands, want)
	}
	want := []string{
		"MAIL FROM:<triggerflow@example.com> BODY=8BITMIME SMTPUTF8",
		"RCPT TO:<jörg@bücher.example>",
		`RCPT TO:<"john doe"@example.com>`,
		"DATA",
	}
	if !slices.Equal(got[1].Commands, want) {
		t.Errorf("UTF-8 envelope:\n got %q\nwant %q", got[1].Commands, want)
	}

	srv2, c2 := plainServer(t) // no SMTPUTF8
	m2 := newMailer(t, c2, nil)
	err := m2.Send(context.Background(), mailer.Message{To: []string{"jörg@bücher.example"}, Subject: "x", Text: "x"})
	if !failure.IsPermanent(err) || !strings.Contains(err.Error(), "SMTPUTF8") {
		t.Fatalf("err = %v, want permanent naming SMTPUTF8", err)
	}
	for _, l := range srv2.Commands() {
		if strings.HasPrefix(l, "MAIL") {
			t.Errorf("sent %q to a server without SMTPUTF8", l)
		}
	}
}

// TestLongUTF8Subject checks a 120-character subject with umlauts, CJK and an emoji:
// the encoded-words start on the Subject line itself, every line keeps to 78
// characters (76 where it holds an encoded-word), and it decodes back exactly.
func TestLongUTF8Subject(t *testing.T) {
	t.Parallel()
	if n := utf8.RuneCountInString(longSubject); n != 120 {
		t.Fatalf("longSubject has %d characters", n)
	}
	srv, c := plainServer(t)
	m := newMailer(t, c, nil)
	if err := m.Send(context.Background(), mailer.Message{To: []string{"alice@example.com"}, Subject: longSubject, Text: "x"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := srv.WaitMessages(t, 1, wait)[0]
	checkSubject(t, msg.Data, longSubject)
}

var encodedWord = regexp.MustCompile(`=\?[^?\s]+\?[qQbB]\?[^?\s]*\?=`)

// checkSubject checks the Subject field of the raw message data: it starts on its own
// line ("Subject: " and a value, never a bare "Subject:"), continuation lines start
// with a space, no header line exceeds 78 characters nor one holding an encoded-word
// 76, no encoded-word 75, and the field decodes to want, with mime.WordDecoder and
// through net/mail.
func checkSubject(t *testing.T, data []byte, want string) {
	t.Helper()
	head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in:\n%s", data)
	}
	lines := strings.Split(string(head), "\r\n")
	start := -1
	for i, l := range lines {
		if len(l) > 78 {
			t.Errorf("header line %d has %d characters: %q", i, len(l), l)
		}
		if encodedWord.MatchString(l) && len(l) > 76 {
			t.Errorf("header line %d holds an encoded-word and has %d characters: %q", i, len(l), l)
		}
		for _, w := range encodedWord.FindAllString(l, -1) {
			if len(w) > 75 {
				t.Errorf("encoded-word of %d characters: %q", len(w), w)
			}
		}
		if start < 0 && strings.HasPrefix(strings.ToLower(l), "subject:") {
			start = i
		}
	}
	if start < 0 {
		t.Fatalf("no Subject in:\n%s", head)
	}
	end := start + 1
	for end < len(lines) && (strings.HasPrefix(lines[end], " ") || strings.HasPrefix(lines[end], "\t")) {
		end++
	}
	field := lines[start:end]
	if !strings.HasPrefix(field[0], "Subject: =?UTF-8?q?") {
		t.Errorf("first line of the subject = %q, want the encoded-word to start on it", field[0])
	}
	for _, l := range field[1:] {
		if !strings.HasPrefix(l, " ") || strings.TrimSpace(l) == "" {
			t.Errorf("continuation line %q: want a space, then text", l)
		}
	}
	value := strings.TrimPrefix(strings.Join(field, ""), "Subject: ") // unfolded: CRLFs removed
	var dec mime.WordDecoder
	if got, err := dec.DecodeHeader(value); err != nil || got != want {
		t.Errorf("subject decodes to %q, %v\n                    want %q", got, err, want)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dec.DecodeHeader(parsed.Header.Get("Subject")); err != nil || got != want {
		t.Errorf("net/mail: subject decodes to %q, %v", got, err)
	}
	t.Logf("Subject field:\n%s", strings.Join(field, "\n"))
}

// TestLongHeaderValues checks the extra headers: a long value starts on the header's
// own line, a non-ASCII one is encoded and decodes back, and a word too long for any
// header line is refused (permanently).
func TestLongHeaderValues(t *testing.T) {
	t.Parallel()
	srv, c := plainServer(t)
	m := newMailer(t, c, nil)
	id := strings.Repeat("0123456789", 6)
	note := "Größere Änderung, bitte prüfen: " + strings.Repeat("sehr lange Begründung ", 5)
	err := m.Send(context.Background(), mailer.Message{
		To: []string{"alice@example.com"}, Subject: "x", Text: "x",
		Headers: map[string]string{"X-Triggerflow-Operation": id, "X-Triggerflow-Note": note},
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := srv.WaitMessages(t, 1, wait)[0]
	if !bytes.Contains(msg.Data, []byte("\r\nX-Triggerflow-Operation: "+id+"\r\n")) {
		t.Errorf("X-Triggerflow-Operation is not on one line:\n%s", msg.Data)
	}
	var dec mime.WordDecoder
	if got, err := dec.DecodeHeader(msg.Parsed.Header.Get("X-Triggerflow-Note")); err != nil || got != note {
		t.Errorf("X-Triggerflow-Note decodes to %q, %v", got, err)
	}
	for i, l := range strings.Split(string(msg.Data[:bytes.Index(msg.Data, []byte("\r\n\r\n"))]), "\r\n") {
		if len(l) > 78 && !strings.HasPrefix(l, "X-Triggerflow-Operation: ") {
			t.Errorf("header line %d has %d characters: %q", i, len(l), l)
		}
	}

	err = m.Send(context.Background(), mailer.Message{
		To: []string{"alice@example.com"}, Headers: map[string]string{"X-Long": strings.Repeat("x", 1000)},
	})
	if !failure.IsPermanent(err) || !strings.Contains(err.Error(), "X-Long") {
		t.Errorf("err = %v, want permanent naming X-Long", err)
	}
}
