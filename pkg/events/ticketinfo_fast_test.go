package events

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file is in package events to reach decodeTicketInfoFast and
// decodeTicketInfoFull; the inputs of ticketinfo_test.go's decodeCases are
// repeated in the tables below.

// fastAccept are inputs the fast path must decode, as the full decoder does.
// The example tickets are added by exampleTickets.
var fastAccept = []struct{ name, in string }{
	// The valid cases of ticketinfo_test.go inside the subset.
	{"minimal", `<ticket_info><id>1</id></ticket_info>`},
	{"real ticket with all fields", RealTicketXML},
	{"entities and character references", `<ticket_info><id>&#49;&#x32;3</id><subject>R&amp;D &lt;web&gt; &quot;db&quot; &apos;x&apos; &#233;t&#xE9;</subject></ticket_info>`},
	{"white space trimmed, inner white space kept", "<ticket_info>\n\t<id>\n\t\t 99 \n\t</id>\n\t<subject>  two  words\n second line  </subject>\n\t<current_stage>\n\t\t<id> 3 </id>\n\t\t<name>\tStep  A\t</name>\n\t</current_stage>\n</ticket_info>"},
	{"non-epoch dates", `<ticket_info><id>5</id><createDate>2024-01-02T03:04:05Z</createDate><updateDate> Tue Jan 02 2024 </updateDate></ticket_info>`},
	{"epoch dates beyond year 9999", `<ticket_info><id>5</id><createDate>0</createDate><updateDate>99999999999999999999</updateDate></ticket_info>`},
	{"negative epoch", `<ticket_info><id>5</id><createDate>-1000</createDate></ticket_info>`},
	{"duplicates: the last wins", `<ticket_info><id>1</id><subject>old</subject><id>2</id><subject>new</subject>` +
		`<current_stage><id>1</id><name>A</name></current_stage><current_stage><id>2</id></current_stage>` +
		`<completion_data><stage><id>8</id></stage></completion_data><completion_data/></ticket_info>`},
	{"empty stage elements", `<ticket_info><id>3</id><current_stage/><open_request_stage></open_request_stage><completion_data/></ticket_info>`},
	{"declaration without encoding", `<?xml version="1.0"?><ticket_info><id>8</id></ticket_info>`},
	{"32 levels deep", NestedTicketXML(32)},
	{"huge epoch", `<ticket_info><id>9223372036854775807</id><createDate>253402300799999</createDate><updateDate>253402300800000</updateDate></ticket_info>`},
	{"self-closed known", `<ticket_info><id/><subject/><createDate/><current_stage/><id>9</id></ticket_info>`},
	{"duplicate completion", `<ticket_info><id>1</id><completion_data><stage><id>1</id></stage><stage><name>x</name></stage></completion_data><completion_data><other/></completion_data></ticket_info>`},

	// Declarations.
	{"single quotes, lower-case encoding", `<?xml version='1.0' encoding='utf-8'?><ticket_info><id>1</id></ticket_info>`},
	{"mixed-case encoding, standalone no", `<?xml version="1.0" encoding='Utf-8' standalone="no"?>` + "\n<ticket_info><id>1</id></ticket_info>"},
	{"standalone without encoding", `<?xml version="1.0" standalone='yes'?><ticket_info><id>1</id></ticket_info>`},
	{"declaration with white space", "<?xml\tversion=\"1.0\"\n  encoding=\"UTF-8\"  ?>\n\n<ticket_info><id>1</id></ticket_info>"},
	{"white space before the declaration", " \n\t<?xml version=\"1.0\"?><ticket_info><id>1</id></ticket_info>"},

	// White space.
	{"white space in tags", "<ticket_info \n><id\t>1</id \n>\n<current_stage ><name >n</name\n></current_stage\t>\n</ticket_info  >\n\n\t "},
	{"leading and trailing white space", "\n\n  <ticket_info><id>1</id></ticket_info>\n  \t\n"},
	{"white space only text", "<ticket_info><id>1</id><subject> \n\t </subject></ticket_info>"},

	// Text.
	{"entities everywhere", `<ticket_info>&amp;<id>&#x31;&#x0032;</id>&lt;<x>&gt;&quot;</x><current_stage>&apos;<name>&amp;&amp;</name></current_stage></ticket_info>`},
	{"numeric references", `<ticket_info><id>1</id><subject>&#65;&#0000066;&#x43;&#x00044;&#x10FFFF;&#xFFFD;&#xE000;&#xD7FF;&#x1F600;</subject></ticket_info>`},
	{"references to white space are trimmed", `<ticket_info><id>&#32;&#9;7&#10;</id><subject>&#13;a&#13;b&#xA0;</subject><createDate>&#x85;1700000000000&#x3000;</createDate></ticket_info>`},
	{"Unicode white space is trimmed", "<ticket_info><id>1</id><subject>\u00a0\u2028 s \u3000\u0085</subject></ticket_info>"},
	{"non-ASCII text", "<ticket_info><id>1</id><subject>été 日本語 😀 \ufffd \ufeff</subject><x>ü</x></ticket_info>"},
	{"brackets and greater-than", `<ticket_info><id>1</id><subject>a]] b ]>c]&gt;] ]]&amp;> x>y</subject></ticket_info>`},
	{"text in the root and stages is ignored", `<ticket_info>hello<id>1</id> world <current_stage>x<id>2</id>y<name>n</name>z</current_stage><completion_data>q<stage>r<id>3</id>s</stage>t</completion_data></ticket_info>`},

	// Unknown elements.
	{"self-closing unknown elements", "<ticket_info><flag/><id>1</id><flag  /><flag\n/><b.c-d_e/></ticket_info>"},
	{"unknown elements kept byte for byte", "<ticket_info>\n  <workflow>\n    <step>Approval &amp; more</step>\n  </workflow>\n  <id>42</id>\n  <requester><id>7</id><login>a.b</login></requester >\n</ticket_info>"},
	{"unknown children of stages", `<ticket_info><id>3</id><current_stage><owner>x</owner><id>4</id><name>N</name></current_stage></ticket_info>`},
	{"unknown children of completion_data", `<ticket_info><id>3</id><completion_data><result>ok</result><stage><step><id>9</id></step><name>Done</name><stage><id>5</id></stage></stage></completion_data></ticket_info>`},
	{"known names elsewhere", `<ticket_info><id>3</id><stage><id>1</id></stage><x><id>2</id><current_stage/></x><ID>4</ID><Subject>s</Subject><current_stage><current_stage><id>9</id></current_stage></current_stage></ticket_info>`},
	{"an unknown ticket_info", `<ticket_info><ticket_info><id>5</id></ticket_info><id>6</id></ticket_info>`},
	{"many extras", "<ticket_info><id>1</id>" + strings.Repeat("<a>x</a><b/>", 20) + "</ticket_info>"},
	{"long text", "<ticket_info><id>1</id><subject>" + strings.Repeat("long subject &amp; ", 100) + "</subject><x>" + strings.Repeat("y", 1000) + "</x></ticket_info>"},

	// Ids and stages.
	{"19-digit id with leading zeros", `<ticket_info><id>0000000000000000007</id></ticket_info>`},
	{"stage after completion_data without stage", `<ticket_info><id>1</id><completion_data><stage><id>1</id><name>a</name></stage></completion_data><completion_data><stage/></completion_data><completion_data><x/></completion_data></ticket_info>`},
	{"stage fields reset by a later stage", `<ticket_info><id>1</id><open_request_stage><id>1</id><name>a</name></open_request_stage><open_request_stage><name>b</name></open_request_stage></ticket_info>`},
	{"empty known elements", `<ticket_info><subject></subject><createDate/><updateDate></updateDate><id>1</id><current_stage><id/><name></name></current_stage></ticket_info>`},
}

// fastDecline are inputs the fast path must leave to the full decoder.
var fastDecline = []struct{ name, in string }{
	// The cases of ticketinfo_test.go outside the subset, valid or not.
	{"attributes, CRLF, CDATA, comments, prefixes", "<ticket_info>\r\n  <workflow id=\"7\" name='AR'>\r\n    <step>Approval &amp; more</step><![CDATA[<x>]]>\r\n  </workflow>\r\n" +
		"  <id>42</id>\n  <flag/>\n  <tf:custom xmlns:tf=\"urn:x\"><!-- note --><a><b/></a></tf:custom>\n  <flag  />\n</ticket_info>"},
	{"CDATA", `<ticket_info><id><![CDATA[ 55 ]]></id><subject><![CDATA[a <b> & c]]> and <![CDATA[d]]></subject></ticket_info>`},
	{"leaf with child elements", `<ticket_info><id>3</id><current_stage foo="bar"><id>4<b>ignored</b></id><owner>x</owner><name>N</name></current_stage></ticket_info>`},
	{"BOM, comments, processing instructions", "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\n<!-- head --><?app x?><ticket_info a=\"1\"><!-- c --><id>6<!-- c -->7</id><?app y?></ticket_info>\n<!-- tail -->\n"},
	{"not UTF-8", "<ticket_info><id>1</id><subject>caf\xe9</subject></ticket_info>"},
	{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><ticket_info><id>&lol2;</id></ticket_info>`},
	{"33 levels deep", NestedTicketXML(33)},
	{"missing id", `<ticket_info><subject>s</subject><current_stage><id>3</id></current_stage></ticket_info>`},
	{"empty id", "<ticket_info><id> \n </id></ticket_info>"},
	{"id not a number", `<ticket_info><id>12a</id></ticket_info>`},
	{"id too long", `<ticket_info><id>12345678901234567890</id></ticket_info>`},
	{"id with non-ASCII digits", `<ticket_info><id>١٢</id></ticket_info>`},
	{"id in a stage only", `<ticket_info><current_stage><id>3</id></current_stage></ticket_info>`},
	{"wrong root", "<?xml version=\"1.0\"?>\n<ticket><id>1</id></ticket>"},
	{"longer root name", "<ticket_infos><id>1</id></ticket_infos>"},
	{"prefixed root", `<sc:ticket_info xmlns:sc="urn:sc"><id>1</id></sc:ticket_info>`},
	{"text after the root", "<ticket_info><id>1</id></ticket_info>\ngarbage"},
	{"second root", "<ticket_info><id>1</id></ticket_info>\n<ticket_info><id>2</id></ticket_info>"},
	{"text before the root", "id=1<ticket_info><id>1</id></ticket_info>"},
	{"mismatched tags", "<ticket_info>\n<id>1</id>\n<current_stage><name>x</nme></current_stage>\n</ticket_info>"},
	{"ISO-8859-1", `<?xml version="1.0" encoding="ISO-8859-1"?><ticket_info><id>1</id></ticket_info>`},
	{"version 1.1", `<?xml version="1.1"?><ticket_info><id>1</id></ticket_info>`},
	{"declaration not first", `<!-- x --><?xml version="1.0"?><ticket_info><id>1</id></ticket_info>`},
	{"root not closed", "<ticket_info>\n<id>1</id>\n"},
	{"truncated inside a tag", "<ticket_info><id>1</id></ticket_in"},
	{"unknown entity", "<ticket_info><id>1</id><subject>a&nbsp;b</subject></ticket_info>"},
	{"control character", "<ticket_info><id>1</id><subject>a\x01b</subject></ticket_info>"},
	{"stray end tag", "</ticket_info>"},
	{"empty", " \n "},
	{"nothing", ""},
	{"only a comment", "<!-- nothing -->"},
	{"empty root", "<ticket_info/>"},
	{"empty root with space", "<ticket_info />"},

	// Characters.
	{"CR", "<ticket_info><id>1</id></ticket_info>\r\n"},
	{"CR in text", "<ticket_info><id>1</id><subject>a\rb</subject></ticket_info>"},
	{"CR in a tag", "<ticket_info><id\r>1</id></ticket_info>"},
	{"NUL", "<ticket_info><id>1</id><x>\x00</x></ticket_info>"},
	{"vertical tab", "<ticket_info><id>1\v</id></ticket_info>"},
	{"DEL is fine but form feed is not", "<ticket_info><id>1</id><x>\x7f\f</x></ticket_info>"},
	{"U+FFFE", "<ticket_info><id>1</id><x>\ufffe</x></ticket_info>"},
	{"U+FFFF", "<ticket_info><id>1</id><x>\uffff</x></ticket_info>"},
	{"surrogate bytes", "<ticket_info><id>1</id><x>\xed\xa0\x80</x></ticket_info>"},
	{"truncated UTF-8", "<ticket_info><id>1</id><x>\xe6\x97</x></ticket_info>"},
	{"BOM", "\xef\xbb\xbf<ticket_info><id>1</id></ticket_info>"},
	{"]]> in text", "<ticket_info><id>1</id><x>a]]>b</x></ticket_info>"},
	{"]]]> in text", "<ticket_info><id>1</id><x>]]]></x></ticket_info>"},

	// References.
	{"upper-case entity", "<ticket_info><id>1</id><x>&AMP;</x></ticket_info>"},
	{"entity without semicolon", "<ticket_info><id>1</id><x>&amp</x></ticket_info>"},
	{"bare ampersand", "<ticket_info><id>1</id><x>a & b</x></ticket_info>"},
	{"upper-case X", "<ticket_info><id>1</id><x>&#X41;</x></ticket_info>"},
	{"no digits", "<ticket_info><id>1</id><x>&#;</x></ticket_info>"},
	{"no hex digits", "<ticket_info><id>1</id><x>&#x;</x></ticket_info>"},
	{"hex digit in decimal", "<ticket_info><id>1</id><x>&#1a;</x></ticket_info>"},
	{"surrogate reference", "<ticket_info><id>1</id><x>&#xD800;</x></ticket_info>"},
	{"NUL reference", "<ticket_info><id>1</id><x>&#0;</x></ticket_info>"},
	{"control reference", "<ticket_info><id>1</id><x>&#x1F;</x></ticket_info>"},
	{"U+FFFE reference", "<ticket_info><id>1</id><x>&#xFFFE;</x></ticket_info>"},
	{"reference beyond Unicode", "<ticket_info><id>1</id><x>&#x110000;</x></ticket_info>"},
	{"huge reference", "<ticket_info><id>1</id><x>&#99999999999999999999999;</x></ticket_info>"},
	{"reference at the end", "<ticket_info><id>1</id></ticket_info>&#"},

	// Markup.
	{"comment inside", "<ticket_info><id>1</id><!-- c --></ticket_info>"},
	{"comment after the root", "<ticket_info><id>1</id></ticket_info><!-- c -->"},
	{"processing instruction", "<ticket_info><id>1</id><?pi x?></ticket_info>"},
	{"attribute", `<ticket_info><id>1</id><x a="1"/></ticket_info>`},
	{"attribute on the root", `<ticket_info a="1"><id>1</id></ticket_info>`},
	{"attribute on a known element", `<ticket_info><id a="1">1</id></ticket_info>`},
	{"prefixed element", `<ticket_info><id>1</id><a:b/></ticket_info>`},
	{"prefixed end tag", `<ticket_info><id>1</id><b></a:b></ticket_info>`},
	{"colon name", `<ticket_info><id>1</id><:b/></ticket_info>`},
	{"digit name", `<ticket_info><id>1</id><1b/></ticket_info>`},
	{"non-ASCII name", `<ticket_info><id>1</id><é/></ticket_info>`},
	{"space after <", `<ticket_info><id>1</id>< x/></ticket_info>`},
	{"space after /", `<ticket_info><id>1</id><x/ ></ticket_info>`},
	{"slash in end tag", `<ticket_info><id>1</id><x></x/></ticket_info>`},
	{"unclosed element", `<ticket_info><id>1</id><x></ticket_info>`},
	{"extra end tag", `<ticket_info><id>1</id></x></ticket_info>`},
	{"XML declaration twice", `<?xml version="1.0"?><?xml version="1.0"?><ticket_info><id>1</id></ticket_info>`},
	{"declaration without version", `<?xml encoding="utf-8"?><ticket_info><id>1</id></ticket_info>`},
	{"declaration with mismatched quotes", `<?xml version="1.0'?><ticket_info><id>1</id></ticket_info>`},
	{"declaration, parts out of order", `<?xml version="1.0" standalone="yes" encoding="utf-8"?><ticket_info><id>1</id></ticket_info>`},
	{"declaration, unknown part", `<?xml version="1.0" foo="bar"?><ticket_info><id>1</id></ticket_info>`},
	{"declaration, standalone maybe", `<?xml version="1.0" standalone="maybe"?><ticket_info><id>1</id></ticket_info>`},
	{"declaration, spaces around =", `<?xml version = "1.0"?><ticket_info><id>1</id></ticket_info>`},
	{"xml-stylesheet", `<?xml-stylesheet href="a"?><ticket_info><id>1</id></ticket_info>`},
	{"unterminated declaration", `<?xml version="1.0"`},
}

// exampleTickets returns the example ticket_info files, but test.xml (the
// "Test" button's empty payload).
func exampleTickets(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "examples", "tickets", "*.xml"))
	if err != nil {
		tb.Fatal(err)
	}
	m := make(map[string][]byte)
	for _, p := range paths {
		if filepath.Base(p) == "test.xml" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		m[filepath.Base(p)] = b
	}
	if len(m) < 10 {
		tb.Fatalf("found only %d example tickets", len(m))
	}
	return m
}

// sameTicketInfo reports whether a and b are equal, comparing the times they
// point to by value.
func sameTicketInfo(a, b TicketInfo) bool {
	for _, p := range [][2]**time.Time{{&a.CreatedAt, &b.CreatedAt}, {&a.UpdatedAt, &b.UpdatedAt}} {
		x, y := *p[0], *p[1]
		if (x == nil) != (y == nil) || x != nil && *x != *y {
			return false
		}
		*p[0], *p[1] = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// checkFastAccepts fails unless the fast path decodes in as the full decoder.
func checkFastAccepts(t *testing.T, in []byte) {
	t.Helper()
	got, ok := decodeTicketInfoFast(in)
	if !ok {
		t.Fatalf("fast path declined %q", in)
	}
	want, err := decodeTicketInfoFull(in)
	if err != nil {
		t.Fatalf("fast path accepted %q, full decoder: %v", in, err)
	}
	if !sameTicketInfo(got, want) {
		t.Fatalf("fast path decoded %q as\n%+v\nfull decoder:\n%+v", in, fmtInfo(got), fmtInfo(want))
	}
	if pub, err := DecodeTicketInfo(in); err != nil || !sameTicketInfo(pub, want) {
		t.Fatalf("DecodeTicketInfo(%q) = %+v, %v", in, fmtInfo(pub), err)
	}
}

func TestDecodeTicketInfoFastAccepts(t *testing.T) {
	t.Parallel()
	for name, b := range exampleTickets(t) {
		t.Run(name, func(t *testing.T) { checkFastAccepts(t, b) })
	}
	for _, tt := range fastAccept {
		t.Run(tt.name, func(t *testing.T) { checkFastAccepts(t, []byte(tt.in)) })
	}
}

func TestDecodeTicketInfoFastDeclines(t *testing.T) {
	t.Parallel()
	for _, tt := range fastDecline {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := decodeTicketInfoFast([]byte(tt.in)); ok || !reflect.DeepEqual(got, TicketInfo{}) {
				t.Fatalf("fast path accepted %q: %+v", tt.in, fmtInfo(got))
			}
		})
	}
}

// TestDecodeTicketInfoFastAllocs checks that the fast path allocates only the
// result: one string, one block for the stages and times, the extras.
func TestDecodeTicketInfoFastAllocs(t *testing.T) {
	in := exampleTickets(t)["advance.xml"]
	if n := testing.AllocsPerRun(100, func() { decodeTicketInfoFast(in) }); n > 2 {
		t.Errorf("decodeTicketInfoFast allocates %v times per call, want 2", n)
	}
}

// FuzzDecodeTicketInfoFastMatchesFull checks the fast path against the full
// decoder: whatever it accepts, the full decoder decodes to the same
// TicketInfo.
func FuzzDecodeTicketInfoFastMatchesFull(f *testing.F) {
	for _, b := range exampleTickets(f) {
		f.Add(b)
	}
	for _, tt := range fastAccept {
		f.Add([]byte(tt.in))
	}
	for _, tt := range fastDecline {
		f.Add([]byte(tt.in))
	}
	for _, b := range fuzzCorpus(f, "FuzzDecodeTicketInfo") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := decodeTicketInfoFast(in)
		if !ok {
			if !reflect.DeepEqual(got, TicketInfo{}) {
				t.Fatalf("fast path declined with %+v", fmtInfo(got))
			}
			return
		}
		want, err := decodeTicketInfoFull(in)
		if err != nil {
			t.Fatalf("fast path accepted what the full decoder rejects: %v\nfast: %+v", err, fmtInfo(got))
		}
		if !sameTicketInfo(got, want) {
			t.Fatalf("fast path:\n%+v\nfull decoder:\n%+v", fmtInfo(got), fmtInfo(want))
		}
	})
}

// fuzzCorpus reads the committed corpus of the fuzz test named fuzz.
func fuzzCorpus(tb testing.TB, fuzz string) [][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", fuzz, "*"))
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			tb.Fatalf("%s: not a one-[]byte corpus file", p)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		out = append(out, []byte(s))
	}
	if len(out) == 0 {
		tb.Fatalf("no corpus for %s", fuzz)
	}
	return out
}

// fmtInfo shows a TicketInfo with its pointers followed.
func fmtInfo(info TicketInfo) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(info.ID) + " subject=" + strconv.Quote(info.Subject) +
		" create=" + strconv.Quote(info.CreateDate) + " update=" + strconv.Quote(info.UpdateDate))
	for _, t := range []struct {
		name string
		t    *time.Time
	}{{"created_at", info.CreatedAt}, {"updated_at", info.UpdatedAt}} {
		if t.t != nil {
			b.WriteString(" " + t.name + "=" + t.t.String())
		}
	}
	for _, s := range []struct {
		name string
		s    *Stage
	}{{"current", info.CurrentStage}, {"completion", info.CompletionStage}, {"open_request", info.OpenRequestStage}} {
		if s.s != nil {
			b.WriteString(" " + s.name + "=" + strconv.Quote(s.s.ID) + "/" + strconv.Quote(s.s.Name))
		}
	}
	for _, x := range info.Extra {
		b.WriteString(" extra " + strconv.Quote(x.Name) + "=" + strconv.Quote(x.XML))
	}
	return b.String()
}
