package ingress_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/triggerflow/triggerflow/services/ingress"
)

// separator matches the text between args and script in the mediator's
// layout, anchored at a quote.
var scriptSeparator = regexp.MustCompile(`^"[ \t\r\n]*,[ \t\r\n]*"script"[ \t\r\n]*:[ \t\r\n]*"`)

// separators counts the (possibly overlapping) separators in s.
func countSeparators(s []byte) int {
	n := 0
	for i := range s {
		if s[i] == '"' && scriptSeparator.Match(s[i:]) {
			n++
		}
	}
	return n
}

var fuzzTriggers = []string{"CREATE", "ADVANCE", "CLOSE", "AUTOMATION_FAILED", "TEST"}

// FuzzDecodeMediatorBody checks that DecodeMediatorBody never panics and
// only fails with an *ingress.InputError that says something, on body as it comes;
// and that for a body pasted together like the mediator does from xml, args
// and script, it returns exactly those args and script: as JSON reads them
// when the paste happens to be valid JSON, literally when it is recovered
// and the split between args and script is unambiguous.
func FuzzDecodeMediatorBody(f *testing.F) {
	for _, c := range mediatorBodyCases {
		f.Add(c.body, "a b", "/opt/trigger-service/test.py")
	}
	f.Add([]byte(bodyXML), `say "hi"`, "/opt/x.py")
	f.Add([]byte(""), `C:\dir\`, `C:\s.py`)
	f.Add([]byte("<ticket_info/>"), "a\tb\nc", `x","script":"y`)
	f.Fuzz(func(t *testing.T, body []byte, args, script string) {
		checkInputError := func(in []byte, err error) {
			t.Helper()
			var ie *ingress.InputError
			if !errors.As(err, &ie) || ie.Msg == "" || ie.Status != 400 {
				t.Fatalf("ingress.DecodeMediatorBody(%q) error = %#v, want *ingress.InputError with a message", in, err)
			}
		}

		// Any body.
		if _, err := ingress.DecodeMediatorBody(body); err != nil {
			checkInputError(body, err)
		}

		// A body pasted like the mediator does.
		event := fuzzTriggers[len(args)%len(fuzzTriggers)]
		b64 := base64.StdEncoding.EncodeToString(body)
		pasted := pasteMediatorBody(b64, event, args, script)
		got, err := ingress.DecodeMediatorBody(pasted)
		if !utf8.ValidString(args) || !utf8.ValidString(script) {
			if err == nil {
				t.Fatalf("accepted invalid UTF-8: %q", pasted)
			}
			checkInputError(pasted, err)
			return
		}
		region := []byte(args + "\",\n\"script\":\"" + script)
		if countSeparators(region) != 1 {
			// args or script contain the separator: the split is ambiguous.
			if err != nil {
				checkInputError(pasted, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ingress.DecodeMediatorBody(%q) error = %v, want it recovered", pasted, err)
		}
		// A body pasted exactly as the seed pastes it is read literally, JSON-valid or not.
		escaped := strings.ContainsAny(args+script, "\"\\") || strings.IndexFunc(args+script, func(r rune) bool { return r < 0x20 }) >= 0
		if got.Recovered != escaped || got.Args != args || got.Script != script || got.Event != event || !bytes.Equal(got.TicketInfo, body) {
			t.Fatalf("ingress.DecodeMediatorBody(%q) =\n%+v\nwant args %q script %q ticket_info %q", pasted, got, args, script, body)
		}
	})
}
