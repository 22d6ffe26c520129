package ingress_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/services/ingress"
)

// bodyXML is a small ticket_info.
const bodyXML = "<ticket_info><id>1234</id><current_stage><id>3</id><name>Approval</name></current_stage></ticket_info>"

// wantArgsHint ends the error for a body that is neither JSON nor in the
// mediator's layout.
const wantArgsHint = `the mediator does not escape args, so a " or \ in an argument breaks the JSON; ` +
	`escape args or use POST /v1/triggers/{EVENT}`

var bodyB64 = base64.StdEncoding.EncodeToString([]byte(bodyXML))

// pasteMediatorBody builds a body the way the seed mediator does: by pasting
// base64 -w0 of the XML, SCW_EVENT, the args and EXEC_SCRIPT into
//
//	PAYLOAD="{ \
//	\"ticket_info\":\"${TICKET_INFO}\",
//	\"event\":\"${SCW_EVENT}\",
//	\"args\":\"${EXEC_ARGS}\",
//	\"script\":\"${EXEC_SCRIPT}\"
//	}"
//
// (the backslash-newline after "{ " is a line continuation, the other line
// breaks are kept), without escaping anything.
func pasteMediatorBody(ticketInfo, event, args, script string) []byte {
	return []byte(`{ "ticket_info":"` + ticketInfo + `",` + "\n" +
		`"event":"` + event + `",` + "\n" +
		`"args":"` + args + `",` + "\n" +
		`"script":"` + script + `"` + "\n}")
}

// wrapBase64 breaks s into lines of 76 characters, as base64 without -w0 does.
func wrapBase64(s, eol string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + eol)
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

var mediatorBodyCases = []struct {
	name    string
	body    []byte
	want    ingress.MediatorBody
	wantErr string // exact InputError message; empty for success
}{
	{
		name: "mediator body",
		body: pasteMediatorBody(bodyB64, "ADVANCE", "a b", "/opt/trigger-service/test.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "ADVANCE", Args: "a b", Script: "/opt/trigger-service/test.py"},
	},
	{
		name: "compact JSON with escapes",
		body: []byte(`{"ticket_info":"` + bodyB64 + `","event":"CREATE","args":"say \"hi\" C:\\data","script":"\/opt\/x.py"}`),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "CREATE", Args: `say "hi" C:\data`, Script: "/opt/x.py"},
	},
	{
		name: "quote in args",
		body: pasteMediatorBody(bodyB64, "ADVANCE", `--title "Web to DB"`, "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "ADVANCE", Args: `--title "Web to DB"`, Script: "/opt/x.py", Recovered: true},
	},
	{
		name: "backslash in args",
		body: pasteMediatorBody(bodyB64, "CLOSE", `C:\data\x`, "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "CLOSE", Args: `C:\data\x`, Script: "/opt/x.py", Recovered: true},
	},
	{
		// The seed never escapes: a backslash sequence that happens to be a JSON escape
		// is still what the admin typed (C:\temp is not C:<tab>emp).
		name: "backslash-n in seed-layout args stays literal",
		body: pasteMediatorBody(bodyB64, "CLOSE", `line1\nline2 C:\temp`, "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "CLOSE", Args: `line1\nline2 C:\temp`, Script: "/opt/x.py", Recovered: true},
	},
	{
		// Any other layout is JSON, and its escapes are honoured.
		name: "escaped JSON in compact layout",
		body: []byte(`{"ticket_info":"` + bodyB64 + `","event":"CLOSE","args":"line1\nline2 C:\\temp","script":"/opt/x.py"}`),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "CLOSE", Args: "line1\nline2 C:\\temp", Script: "/opt/x.py"},
	},
	{
		name: "args ending in a backslash",
		body: pasteMediatorBody(bodyB64, "CLOSE", `dir\`, "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "CLOSE", Args: `dir\`, Script: "/opt/x.py", Recovered: true},
	},
	{
		name: "tab in args",
		body: pasteMediatorBody(bodyB64, "REJECT", "a\tb", "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "REJECT", Args: "a\tb", Script: "/opt/x.py", Recovered: true},
	},
	{
		name: "newline in args",
		body: pasteMediatorBody(bodyB64, "REJECT", "a\nb", "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "REJECT", Args: "a\nb", Script: "/opt/x.py", Recovered: true},
	},
	{
		name: "script separator inside args: the last one splits",
		body: pasteMediatorBody(bodyB64, "ADVANCE", `say "hi","script":"/tmp/evil.sh`, "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "ADVANCE", Args: `say "hi","script":"/tmp/evil.sh`, Script: "/opt/x.py", Recovered: true},
	},
	{
		name: "script with spaces",
		body: pasteMediatorBody(bodyB64, "RESOLVE", "", "/opt/my scripts/run it.sh --fast"),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "RESOLVE", Script: "/opt/my scripts/run it.sh --fast"},
	},
	{
		name: "quote in script",
		body: pasteMediatorBody(bodyB64, "RESOLVE", "", `/opt/x.py "q"`),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "RESOLVE", Script: `/opt/x.py "q"`, Recovered: true},
	},
	{
		name: "empty args with a broken script",
		body: pasteMediatorBody(bodyB64, "REDO", "", `C:\scripts\x.py`),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "REDO", Script: `C:\scripts\x.py`, Recovered: true},
	},
	{
		name: "base64 wrapped at 76 columns (literal line breaks)",
		body: pasteMediatorBody(wrapBase64(base64.StdEncoding.EncodeToString([]byte(strings.Repeat(bodyXML, 3))), "\n"), "ADVANCE", "a", "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte(strings.Repeat(bodyXML, 3)), Event: "ADVANCE", Args: "a", Script: "/opt/x.py", Recovered: true},
	},
	{
		name: "base64 wrapped with escaped CRLF in JSON",
		body: []byte(`{"ticket_info":"` + wrapBase64(base64.StdEncoding.EncodeToString([]byte(strings.Repeat(bodyXML, 3))), `\r\n`) + `","event":"ADVANCE"}`),
		want: ingress.MediatorBody{TicketInfo: []byte(strings.Repeat(bodyXML, 3)), Event: "ADVANCE"},
	},
	{
		name: "unpadded base64",
		body: pasteMediatorBody(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("<ticket_info/>x")), "="), "TEST", "", ""),
		want: ingress.MediatorBody{TicketInfo: []byte("<ticket_info/>x"), Event: "TEST"},
	},
	{
		name: "CRLF line endings",
		body: bytes.ReplaceAll(pasteMediatorBody(bodyB64, "ADVANCE", "a b", "/opt/x.py"), []byte("\n"), []byte("\r\n")),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "ADVANCE", Args: "a b", Script: "/opt/x.py"},
	},
	{
		name: "CRLF line endings and a broken argument",
		body: bytes.ReplaceAll(pasteMediatorBody(bodyB64, "ADVANCE", `"quoted"`, "/opt/x.py"), []byte("\n"), []byte("\r\n")),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "ADVANCE", Args: `"quoted"`, Script: "/opt/x.py", Recovered: true},
	},
	{
		name: "extra fields are ignored",
		body: []byte(`{"version":2,"ticket_info":"` + bodyB64 + `","event":"CREATE","meta":{"a":[1,2]},"args":null}`),
		want: ingress.MediatorBody{TicketInfo: []byte(bodyXML), Event: "CREATE"},
	},
	{
		name: "empty ticket_info (the Test button)",
		body: pasteMediatorBody("", "TEST", "", "/opt/x.py"),
		want: ingress.MediatorBody{TicketInfo: []byte{}, Event: "TEST", Script: "/opt/x.py"},
	},
	{
		name: "unicode escapes in event are JSON",
		body: []byte(`{"ticket_info":"","event":"\u0041DVANCE"}`),
		want: ingress.MediatorBody{TicketInfo: []byte{}, Event: "ADVANCE"},
	},
	{
		name:    "event is a number",
		body:    []byte(`{"ticket_info":"` + bodyB64 + `","event": 5}`),
		wantErr: `"event" must be a string, not a number`,
	},
	{
		name:    "args is an array",
		body:    []byte(`{"ticket_info":"` + bodyB64 + `","event":"CLOSE","args":["a","b"]}`),
		wantErr: `"args" must be a string, not an array`,
	},
	{
		name:    "ticket_info is an object",
		body:    []byte(`{"ticket_info":{"id":1},"event":"CLOSE"}`),
		wantErr: `"ticket_info" must be a string, not an object`,
	},
	{
		name:    "top-level array",
		body:    []byte(`[{"ticket_info":"","event":"CLOSE"}]`),
		wantErr: "body must be a JSON object, not an array",
	},
	{
		name:    "top-level string",
		body:    []byte(`"hello"`),
		wantErr: "body must be a JSON object, not a string",
	},
	{
		name:    "top-level null",
		body:    []byte(" null\n"),
		wantErr: "body must be a JSON object, not null",
	},
	{
		name:    "empty body",
		body:    nil,
		wantErr: "body is empty",
	},
	{
		name:    "white space body",
		body:    []byte(" \r\n\t"),
		wantErr: "body is empty",
	},
	{
		name:    "ticket_info missing",
		body:    []byte(`{"event":"CLOSE","args":"a"}`),
		wantErr: `body has no "ticket_info"`,
	},
	{
		name:    "ticket_info null",
		body:    []byte(`{"ticket_info":null,"event":"CLOSE"}`),
		wantErr: `body has no "ticket_info"`,
	},
	{
		name:    "ticket_info not base64",
		body:    pasteMediatorBody("PHRp*2tldA==", "CLOSE", "", ""),
		wantErr: `"ticket_info" is not valid base64: unexpected '*' at offset 4 of the value`,
	},
	{
		name:    "ticket_info with bad padding",
		body:    pasteMediatorBody("PHRpY2=", "CLOSE", "", ""),
		wantErr: `"ticket_info" is not valid base64: bad padding or length (7 base64 characters)`,
	},
	{
		name:    "ticket_info not base64 in a recovered body",
		body:    pasteMediatorBody("PHRp Y2tldA==", "CLOSE", `"x"`, ""),
		wantErr: `"ticket_info" is not valid base64: unexpected ' ' at offset 4 of the value`,
	},
	{
		name:    "event missing",
		body:    []byte(`{"ticket_info":"` + bodyB64 + `"}`),
		wantErr: `body has no "event"`,
	},
	{
		name:    "event empty",
		body:    pasteMediatorBody(bodyB64, "", "a", "/opt/x.py"),
		wantErr: `"event" is empty`,
	},
	{
		name:    "body not UTF-8",
		body:    []byte("{\"ticket_info\":\"\xff\",\"event\":\"CLOSE\"}"),
		wantErr: "body is not valid UTF-8 at byte 16",
	},
	{
		name:    "args not UTF-8",
		body:    pasteMediatorBody(bodyB64, "CLOSE", "caf\xe9", "/opt/x.py"),
		wantErr: `"args" is not valid UTF-8 at byte 184 of the body`,
	},
	{
		name:    "script not UTF-8",
		body:    pasteMediatorBody("", "CLOSE", "", "/opt/\xc3"),
		wantErr: `"script" is not valid UTF-8 at byte 63 of the body`,
	},
	{
		name:    "broken argument and no script field",
		body:    []byte(`{ "ticket_info":"` + bodyB64 + `",` + "\n" + `"event":"ADVANCE",` + "\n" + `"args":"C:\x"` + "\n}"),
		wantErr: `body is not valid JSON (invalid character 'x' in string escape code at byte 187) and does not have the mediator's layout either (no ", "script":" after "args"): ` + wantArgsHint,
	},
	{
		name:    "broken argument and a lower-case event",
		body:    pasteMediatorBody(bodyB64, "advance", `"x"`, "/opt/x.py"),
		wantErr: `body is not valid JSON (invalid character 'x' after object key:value pair at byte 185) and does not have the mediator's layout either (at byte 165: want an event name of A-Z and _ followed by "): ` + wantArgsHint,
	},
	{
		name:    "truncated JSON",
		body:    []byte(`{"ticket_info":"` + bodyB64[:10]),
		wantErr: `body is not valid JSON (unexpected end of JSON input at byte 26) and does not have the mediator's layout either (at byte 16: "ticket_info" is not terminated): ` + wantArgsHint,
	},
	{
		name:    "not JSON at all",
		body:    []byte("ticket_info=abc&event=CLOSE"),
		wantErr: `body is not valid JSON (invalid character 'i' in literal true (expecting 'r') at byte 2) and does not have the mediator's layout either (at byte 0: want {)`,
	},
	{
		name:    "duplicate event, TEST first",
		body:    []byte(`{"ticket_info":"` + bodyB64 + `","event":"TEST","event":"CREATE"}`),
		wantErr: `duplicate key "event" in the body: each key may appear only once (which one is meant?)`,
	},
	{
		name:    "duplicate event, TEST last",
		body:    []byte(`{"ticket_info":"` + bodyB64 + `","event":"CREATE","args":"","event":"TEST"}`),
		wantErr: `duplicate key "event" in the body: each key may appear only once (which one is meant?)`,
	},
	{
		name:    "duplicate ticket_info",
		body:    []byte(`{"ticket_info":"` + bodyB64 + `","event":"CREATE","ticket_info":""}`),
		wantErr: `duplicate key "ticket_info" in the body: each key may appear only once (which one is meant?)`,
	},
	{
		name:    "duplicate script in another case",
		body:    []byte(`{"ticket_info":"","event":"CREATE","script":"/a","SCRIPT":"/b"}`),
		wantErr: `duplicate key "SCRIPT" in the body: it is the same field as "script" (JSON keys match case-insensitively); each key may appear only once`,
	},
	{
		name: "the same key in nested objects is not a duplicate",
		body: []byte(`{"ticket_info":"","event":"CREATE","meta":{"event":1},"more":{"event":2}}`),
		want: ingress.MediatorBody{TicketInfo: []byte{}, Event: "CREATE"},
	},
}

func TestDecodeMediatorBody(t *testing.T) {
	t.Parallel()
	for _, tt := range mediatorBodyCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ingress.DecodeMediatorBody(tt.body)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ingress.DecodeMediatorBody(%q) error = %v", tt.body, err)
				}
				if !bytes.Equal(got.TicketInfo, tt.want.TicketInfo) || (got.TicketInfo == nil) != (tt.want.TicketInfo == nil) {
					t.Errorf("TicketInfo = %q, want %q", got.TicketInfo, tt.want.TicketInfo)
				}
				got.TicketInfo, tt.want.TicketInfo = nil, nil
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("ingress.DecodeMediatorBody(%q) =\n%+v\nwant\n%+v", tt.body, got, tt.want)
				}
				return
			}
			var ie *ingress.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("ingress.DecodeMediatorBody(%q) error = %v (%T), want *ingress.InputError", tt.body, err, err)
			}
			if ie.Status != http.StatusBadRequest {
				t.Errorf("Status = %d, want 400", ie.Status)
			}
			if ie.Msg != tt.wantErr {
				t.Errorf("error =\n%s\nwant\n%s", ie.Msg, tt.wantErr)
			}
			if !reflect.DeepEqual(got, ingress.MediatorBody{}) {
				t.Errorf("DecodeMediatorBody returned %+v with an error", got)
			}
		})
	}
}

func BenchmarkDecodeMediatorBody(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"json", pasteMediatorBody(bodyB64, "ADVANCE", "a b", "/opt/trigger-service/test.py")},
		{"recovered", pasteMediatorBody(bodyB64, "ADVANCE", `"a" b`, "/opt/trigger-service/test.py")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := ingress.DecodeMediatorBody(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
