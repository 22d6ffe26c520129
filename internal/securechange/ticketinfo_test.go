package securechange_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// nestedXML returns a ticket_info whose deepest element is at level depth.
func nestedXML(depth int) string {
	inner := strings.Repeat("<x>", depth-2) + strings.Repeat("</x>", depth-2)
	return "<ticket_info><id>7</id><deep>" + inner + "</deep></ticket_info>"
}

func at(ms int64) *time.Time {
	t := time.UnixMilli(ms).UTC()
	return &t
}

// decodeCases is shared with FuzzDecodeTicketInfo as its seed corpus. The
// real ticket_info of an ADVANCE trigger is TestDecodeTicketInfoGolden's.
var decodeCases = []struct {
	name    string
	in      string
	want    events.TicketInfo
	wantErr error  // sentinel; nil for success
	wantMsg string // exact error message, when set
}{
	{
		name: "minimal",
		in:   `<ticket_info><id>1</id></ticket_info>`,
		want: events.TicketInfo{ID: "1"},
	},
	{
		name: "unknown elements are kept byte for byte",
		in: "<ticket_info>\r\n  <workflow id=\"7\" name='AR'>\r\n    <step>Approval &amp; more</step><![CDATA[<x>]]>\r\n  </workflow>\r\n" +
			"  <id>42</id>\n  <flag/>\n  <tf:custom xmlns:tf=\"urn:x\"><!-- note --><a><b/></a></tf:custom>\n  <flag  />\n</ticket_info>",
		want: events.TicketInfo{ID: "42", Extra: []events.RawElement{
			{Name: "workflow", XML: "<workflow id=\"7\" name='AR'>\r\n    <step>Approval &amp; more</step><![CDATA[<x>]]>\r\n  </workflow>"},
			{Name: "flag", XML: "<flag/>"},
			{Name: "tf:custom", XML: "<tf:custom xmlns:tf=\"urn:x\"><!-- note --><a><b/></a></tf:custom>"},
			{Name: "flag", XML: "<flag  />"},
		}},
	},
	{
		name: "CDATA",
		in:   `<ticket_info><id><![CDATA[ 55 ]]></id><subject><![CDATA[a <b> & c]]> and <![CDATA[d]]></subject></ticket_info>`,
		want: events.TicketInfo{ID: "55", Subject: "a <b> & c and d"},
	},
	{
		name: "entities and character references",
		in:   `<ticket_info><id>&#49;&#x32;3</id><subject>R&amp;D &lt;web&gt; &quot;db&quot; &apos;x&apos; &#233;t&#xE9;</subject></ticket_info>`,
		want: events.TicketInfo{ID: "123", Subject: `R&D <web> "db" 'x' été`},
	},
	{
		name: "white space trimmed, inner white space kept",
		in:   "<ticket_info>\n\t<id>\n\t\t 99 \n\t</id>\n\t<subject>  two  words\n second line  </subject>\n\t<current_stage>\n\t\t<id> 3 </id>\n\t\t<name>\tStep  A\t</name>\n\t</current_stage>\n</ticket_info>",
		want: events.TicketInfo{ID: "99", Subject: "two  words\n second line", CurrentStage: &events.Stage{ID: "3", Name: "Step  A"}},
	},
	{
		name: "non-epoch dates are kept as given without a time",
		in:   `<ticket_info><id>5</id><createDate>2024-01-02T03:04:05Z</createDate><updateDate> Tue Jan 02 2024 </updateDate></ticket_info>`,
		want: events.TicketInfo{ID: "5", CreateDate: "2024-01-02T03:04:05Z", UpdateDate: "Tue Jan 02 2024"},
	},
	{
		name: "epoch dates beyond year 9999 get no time",
		in:   `<ticket_info><id>5</id><createDate>0</createDate><updateDate>99999999999999999999</updateDate></ticket_info>`,
		want: events.TicketInfo{ID: "5", CreateDate: "0", CreatedAt: at(0), UpdateDate: "99999999999999999999"},
	},
	{
		name: "negative epoch is not digits",
		in:   `<ticket_info><id>5</id><createDate>-1000</createDate></ticket_info>`,
		want: events.TicketInfo{ID: "5", CreateDate: "-1000"},
	},
	{
		name: "duplicate known elements: the last wins",
		in: `<ticket_info><id>1</id><subject>old</subject><id>2</id><subject>new</subject>` +
			`<current_stage><id>1</id><name>A</name></current_stage><current_stage><id>2</id></current_stage>` +
			`<completion_data><stage><id>8</id></stage></completion_data><completion_data/></ticket_info>`,
		want: events.TicketInfo{ID: "2", Subject: "new", CurrentStage: &events.Stage{ID: "2"}},
	},
	{
		name: "unknown children of stages ignored",
		in: `<ticket_info><id>3</id><current_stage foo="bar"><id>4<b>ignored</b></id><owner>x</owner><name>N</name></current_stage>` +
			`<completion_data><result>ok</result><stage><step><id>9</id></step><name>Done</name></stage></completion_data></ticket_info>`,
		want: events.TicketInfo{
			ID:              "3",
			CurrentStage:    &events.Stage{ID: "4", Name: "N"},
			CompletionStage: &events.Stage{Name: "Done"},
		},
	},
	{
		name: "empty stage elements are present",
		in:   `<ticket_info><id>3</id><current_stage/><open_request_stage></open_request_stage><completion_data/></ticket_info>`,
		want: events.TicketInfo{ID: "3", CurrentStage: &events.Stage{}, OpenRequestStage: &events.Stage{}},
	},
	{
		name: "byte order mark, lower-case encoding, comments and processing instructions",
		in:   "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\n<!-- head --><?app x?><ticket_info a=\"1\"><!-- c --><id>6<!-- c -->7</id><?app y?></ticket_info>\n<!-- tail -->\n",
		want: events.TicketInfo{ID: "67"},
	},
	{
		name: "declaration without encoding",
		in:   `<?xml version="1.0"?><ticket_info><id>8</id></ticket_info>`,
		want: events.TicketInfo{ID: "8"},
	},
	{
		name: "32 levels deep is accepted",
		in:   nestedXML(32),
		want: events.TicketInfo{ID: "7", Extra: []events.RawElement{{Name: "deep", XML: "<deep>" + strings.Repeat("<x>", 30) + strings.Repeat("</x>", 30) + "</deep>"}}},
	},
	{
		name:    "not UTF-8",
		in:      "<ticket_info><id>1</id><subject>caf\xe9</subject></ticket_info>",
		wantErr: securechange.ErrNotUTF8,
		wantMsg: "ticket_info XML: not valid UTF-8 at byte 35",
	},
	{
		name:    "not UTF-8, declared Latin-1",
		in:      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><ticket_info><id>1</id><subject>caf\xe9</subject></ticket_info>",
		wantErr: securechange.ErrNotUTF8,
		wantMsg: `ticket_info XML: not valid UTF-8 at byte 78 (its XML declaration says encoding="ISO-8859-1"; only UTF-8 is read, which is what SecureChange sends: convert it, e.g. iconv -f ISO-8859-1 -t UTF-8)`,
	},
	{
		name:    "gzip",
		in:      "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
		wantErr: securechange.ErrNotUTF8,
		wantMsg: "ticket_info XML: not valid UTF-8 at byte 1 (it starts like gzip-compressed data: send it uncompressed)",
	},
	{
		name:    "DOCTYPE",
		in:      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><ticket_info><id>&lol2;</id></ticket_info>`,
		wantErr: securechange.ErrDoctype,
		wantMsg: "ticket_info XML: DOCTYPE declarations are not accepted (entity expansion risk)",
	},
	{
		name:    "33 levels deep",
		in:      nestedXML(33),
		wantErr: securechange.ErrTooDeep,
		wantMsg: "ticket_info XML: line 1: nesting deeper than 32 levels (at <x>)",
	},
	{
		name:    "missing id",
		in:      `<ticket_info><subject>s</subject><current_stage><id>3</id></current_stage></ticket_info>`,
		wantErr: securechange.ErrMissingTicketID,
		wantMsg: "ticket_info XML: missing <id>",
	},
	{
		name:    "empty id",
		in:      "<ticket_info><id> \n </id></ticket_info>",
		wantErr: securechange.ErrMissingTicketID,
		wantMsg: "ticket_info XML: <id> is empty",
	},
	{
		name:    "id not a number",
		in:      `<ticket_info><id>12a</id></ticket_info>`,
		wantErr: securechange.ErrBadTicketID,
		wantMsg: `ticket_info XML: <id> "12a" is not a ticket number`,
	},
	{
		name:    "id too long",
		in:      `<ticket_info><id>12345678901234567890</id></ticket_info>`,
		wantErr: securechange.ErrBadTicketID,
		wantMsg: `ticket_info XML: <id> "12345678901234567890" is not a ticket number`,
	},
	{
		name:    "id with non-ASCII digits",
		in:      `<ticket_info><id>١٢</id></ticket_info>`,
		wantErr: securechange.ErrBadTicketID,
		wantMsg: `ticket_info XML: <id> "١٢" is not a ticket number`,
	},
	{
		name:    "wrong root",
		in:      "<?xml version=\"1.0\"?>\n<ticket><id>1</id></ticket>",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 2: root element is <ticket>, want <ticket_info>",
	},
	{
		name:    "prefixed root",
		in:      `<sc:ticket_info xmlns:sc="urn:sc"><id>1</id></sc:ticket_info>`,
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 1: root element is <sc:ticket_info>, want <ticket_info>",
	},
	{
		name:    "text after the root",
		in:      "<ticket_info><id>1</id></ticket_info>\ngarbage",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 2: text after </ticket_info>",
	},
	{
		name:    "second root",
		in:      "<ticket_info><id>1</id></ticket_info>\n<ticket_info><id>2</id></ticket_info>",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 2: element <ticket_info> after the end of <ticket_info>",
	},
	{
		name:    "text before the root",
		in:      "id=1<ticket_info><id>1</id></ticket_info>",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 1: text before <ticket_info>",
	},
	{
		name:    "mismatched tags",
		in:      "<ticket_info>\n<id>1</id>\n<current_stage><name>x</nme></current_stage>\n</ticket_info>",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 3: element <name> closed by </nme>",
	},
	{
		name:    "declared encoding other than UTF-8",
		in:      `<?xml version="1.0" encoding="ISO-8859-1"?><ticket_info><id>1</id></ticket_info>`,
		wantErr: securechange.ErrBadXML,
		wantMsg: `ticket_info XML: declared encoding "ISO-8859-1" is not supported, only UTF-8`,
	},
	{
		name:    "unsupported XML version",
		in:      `<?xml version="1.1"?><ticket_info><id>1</id></ticket_info>`,
		wantErr: securechange.ErrBadXML,
		wantMsg: `ticket_info XML: line 1: unsupported version "1.1"; only version 1.0 is supported`,
	},
	{
		name:    "declaration not first",
		in:      `<!-- x --><?xml version="1.0"?><ticket_info><id>1</id></ticket_info>`,
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 1: the XML declaration must come first",
	},
	{
		name:    "root not closed",
		in:      "<ticket_info>\n<id>1</id>\n",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 3: unexpected end of input: <ticket_info> is not closed",
	},
	{
		name:    "truncated inside a tag",
		in:      "<ticket_info><id>1</id></ticket_in",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 1: unexpected EOF",
	},
	{
		name:    "unknown entity",
		in:      "<ticket_info><id>1</id><subject>a&nbsp;b</subject></ticket_info>",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 1: invalid character entity &nbsp;",
	},
	{
		name:    "control character",
		in:      "<ticket_info><id>1</id><subject>a\x01b</subject></ticket_info>",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 1: illegal character code U+0001",
	},
	{
		name:    "stray end tag",
		in:      "</ticket_info>",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: line 1: unexpected </ticket_info>",
	},
	{
		name:    "empty",
		in:      " \n ",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: empty document",
	},
	{
		name:    "only a comment",
		in:      "<!-- nothing -->",
		wantErr: securechange.ErrBadXML,
		wantMsg: "ticket_info XML: no <ticket_info> element",
	},
	{
		name:    "empty root is missing its id",
		in:      "<ticket_info/>",
		wantErr: securechange.ErrMissingTicketID,
		wantMsg: "ticket_info XML: missing <id>",
	},
}

var sentinels = []error{
	securechange.ErrBadXML, securechange.ErrDoctype, securechange.ErrTooDeep, securechange.ErrNotUTF8,
	securechange.ErrMissingTicketID, securechange.ErrBadTicketID,
}

func TestDecodeTicketInfo(t *testing.T) {
	t.Parallel()
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := securechange.DecodeTicketInfo([]byte(tt.in))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("DecodeTicketInfo() error = %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("DecodeTicketInfo() =\n%s\nwant\n%s", dump(t, got), dump(t, tt.want))
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("DecodeTicketInfo() error = %v, want %v", err, tt.wantErr)
			}
			for _, s := range sentinels {
				if s != tt.wantErr && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("error message =\n%s\nwant\n%s", err, tt.wantMsg)
			}
			if !reflect.DeepEqual(got, events.TicketInfo{}) {
				t.Errorf("DecodeTicketInfo() returned %+v with an error", got)
			}
		})
	}
}

func TestIsTestPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{" \n\t\r\n", true},
		{"<ticket_info/>", true},
		{"<ticket_info />\n", true},
		{"<ticket_info></ticket_info>", true},
		{"\n<ticket_info>\n  </ticket_info >\n", true},
		{`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n<ticket_info/>\n", true},
		{`<?xml version="1.0"?><ticket_info></ticket_info>`, true},
		{"\xef\xbb\xbf<ticket_info/>", true},
		{`<?xml version="1.0"?>`, false},
		{"<ticket_info><id>1</id></ticket_info>", false},
		{"<ticket_info a=\"1\"/>", false},
		{"<ticket_infos/>", false},
		{"<ticket_info></ticket_info>x", false},
		{"<ticket_info>", false},
		{"<?xml version=\"1.0\"<ticket_info/>", false},
		{"<?xml version=\"1.0\"?>\n<ticket_info><id>1</id></ticket_info>\n", false},
	}
	for _, tt := range tests {
		if got := securechange.IsTestPayload([]byte(tt.in)); got != tt.want {
			t.Errorf("IsTestPayload(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// dump renders v as indented JSON for failure messages.
func dump(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenTriggers returns the golden TriggerEvents of pkg/events, by file name:
// the wire form of what the ingress makes of their raw_xml.
func goldenTriggers(tb testing.TB) map[string]events.TriggerEvent {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "pkg", "events", "testdata", "trigger_event*.golden.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no trigger golden files in pkg/events/testdata: %v", err)
	}
	evs := make(map[string]events.TriggerEvent, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		ev, err := events.UnmarshalTriggerEvent(b)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		evs[filepath.Base(f)] = ev
	}
	return evs
}

// TestDecodeTicketInfoGolden: the raw_xml of every golden TriggerEvent of
// pkg/events decodes to its ticket, and makes the same event.
func TestDecodeTicketInfoGolden(t *testing.T) {
	t.Parallel()
	for name, golden := range goldenTriggers(t) {
		info, err := securechange.DecodeTicketInfo([]byte(golden.RawXML))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		ev := events.NewTriggerEvent(golden.Event, info, []byte(golden.RawXML), golden.Args, golden.Script)
		ev.ReceivedAt, ev.Ingress, ev.Recovered = golden.ReceivedAt, golden.Ingress, golden.Recovered
		if !reflect.DeepEqual(ev, golden) {
			t.Errorf("%s: the event from raw_xml is\n%s\nwant\n%s", name, dump(t, ev), dump(t, golden))
		}
	}
}
