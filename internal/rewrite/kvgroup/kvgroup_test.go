package kvgroup_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/rewrite/kvgroup"
)

func pair(k, v string) kvgroup.Entry { return kvgroup.Entry{Key: k, Value: v} }

// grp builds a group entry; with no entries its Group is empty (nil Entries), as Parse
// leaves `{}`.
func grp(k, name string, es ...kvgroup.Entry) kvgroup.Entry {
	return kvgroup.Entry{Key: k, Name: name, Group: &kvgroup.Group{Entries: es}}
}

func doc(version string, es ...kvgroup.Entry) *kvgroup.Document {
	return &kvgroup.Document{Version: version, Root: kvgroup.Group{Entries: es}}
}

// nested returns n groups "g" "" = { … } around a pair.
func nested(n int) string {
	return strings.Repeat(`"g" "" = {`, n) + `"k" = "v"` + strings.Repeat("}", n)
}

var okCases = []struct {
	name string
	in   string
	want *kvgroup.Document
}{
	{"empty", "", doc("")},
	{"whitespace only", " \t\r\n\v\f\n", doc("")},
	{"comments only", "# one\n  # two\n#three", doc("")},
	{"header 1.0 only", "# KVGROUP-V1.0\n", doc("1.0")},
	{"header 1.1 only no newline", "# KVGROUP-V1.1", doc("1.1")},
	{"header without space", "#KVGROUP-V1.0\n\"a\" = \"b\"", doc("1.0", pair("a", "b"))},
	{"header with tab", "#\tKVGROUP-V1.1\n\"a\" = \"b\"", doc("1.1", pair("a", "b"))},
	{"header after BOM and blank lines", "\xef\xbb\xbf\n\n  # KVGROUP-V1.0\n\"a\" = \"b\"", doc("1.0", pair("a", "b"))},
	{"header then content on the same line", `# KVGROUP-V1.1 "" "" = { "retval" = "0" }`, doc("1.1", grp("", "", pair("retval", "0")))},
	{"header then a comment on the same line", "# KVGROUP-V1.0 # written by hand\n\"a\" = \"b\"", doc("1.0", pair("a", "b"))},
	{"header glued to content", `#KVGROUP-V1.0"a"="b"`, doc("1.0", pair("a", "b"))},
	{"comment before header makes it a comment", "# hello\n# KVGROUP-V1.0\n\"a\" = \"b\"", doc("", pair("a", "b"))},
	{"header after an entry is a comment", "\"a\" = \"b\"\n# KVGROUP-V1.0 \"c\" = \"d\"\n", doc("", pair("a", "b"))},
	{"lower-case header is a comment", "# kvgroup-v1.0 \"a\" = \"b\"", doc("")},
	{"other comment text first", "# KVGROUP documents follow\n\"a\" = \"b\"", doc("", pair("a", "b"))},
	{"pair", `"a" = "b"`, doc("", pair("a", "b"))},
	{"pair without spaces", `"a"="b""c"="d"`, doc("", pair("a", "b"), pair("c", "d"))},
	{"pair over lines", "\"a\"\n=\n\"b\"", doc("", pair("a", "b"))},
	{"empty key and value", `"" = ""`, doc("", pair("", ""))},
	{"named group", `"resource" "R1" = { "remove" = "true" }`, doc("", grp("resource", "R1", pair("remove", "true")))},
	{"group without spaces", `"a""b"={"c"="d"}`, doc("", grp("a", "b", pair("c", "d")))},
	{"group without name", `"a" = { "b" = "c" }`, doc("", grp("a", "", pair("b", "c")))},
	{"empty groups", `"a" "" = {} "b" "x" = { } "c" = {}`, doc("", grp("a", ""), grp("b", "x"), grp("c", ""))},
	{"seed wrapper is kept", `"" "" = { "retval" = "0" }`, doc("", grp("", "", pair("retval", "0")))},
	{"nesting", `"" "" = { "request" "" = { "resource" "R" = { "attr" "A" = { "value" = "v" } } } "x" = "y" }`,
		doc("", grp("", "", grp("request", "", grp("resource", "R", grp("attr", "A", pair("value", "v")))), pair("x", "y")))},
	{"repeated keys kept in order", `"r" = "1" "r" = "2" "r" "" = { } "q" = "x" "r" = "3"`,
		doc("", pair("r", "1"), pair("r", "2"), grp("r", ""), pair("q", "x"), pair("r", "3"))},
	{"escapes", `"k\"ey" = "q\"b\\s\nn\tt\rr"`, doc("", pair(`k"ey`, "q\"b\\s\nn\tt\rr"))},
	{"hex escapes", `"a" = "\x41\x1b\x00\x7F\x7f"`, doc("", pair("a", "A\x1b\x00\x7f\x7f"))},
	{"unknown escapes kept literally", `"a" = "C:\Program Files\q\'\0\/"`, doc("", pair("a", `C:\Program Files\q\'\0\/`))},
	{"bad hex escapes kept literally", `"a" = "\xZZ\x4\xff\x80"`, doc("", pair("a", `\xZZ\x4\xff\x80`))},
	{"escaped backslash before quote", `"a" = "x\\" "b" = "y"`, doc("", pair("a", `x\`), pair("b", "y"))},
	{"raw newline and tab in string", "\"a\" = \"line1\nline2\tx\"\n\"b\" = \"c\"", doc("", pair("a", "line1\nline2\tx"), pair("b", "c"))},
	{"raw control chars in string", "\"a\" = \"\x00\x01\x7f\"", doc("", pair("a", "\x00\x01\x7f"))},
	{"unicode", `"clé" = "héllo ✓ 日本 🙂"`, doc("", pair("clé", "héllo ✓ 日本 🙂"))},
	{"hash inside quotes is not a comment", `"a#b" = "# not a comment"`, doc("", pair("a#b", "# not a comment"))},
	{"comment to end of line", "\"a\" = \"b\" # c \"d\" = \"e\"\n\"f\" = \"g\" # tail", doc("", pair("a", "b"), pair("f", "g"))},
	{"comment inside group and between tokens", "\"a\" # c\n \"n\" # d\n = # e\n { # f\n \"k\" = \"v\" # g\n } # h", doc("", grp("a", "n", pair("k", "v")))},
	{"bare words", `retval = 0 resource R1 = { itemType = groupID }`, doc("", pair("retval", "0"), grp("resource", "R1", pair("itemType", "groupID")))},
	{"bare words glued", `a=b c={d=e}`, doc("", pair("a", "b"), grp("c", "", pair("d", "e")))},
	{"bare word is not unescaped", `path = C:\x41\n`, doc("", pair("path", `C:\x41\n`))},
	{"bare word ends at comment", "a = b#c\n", doc("", pair("a", "b"))},
	{"bare words with punctuation and unicode", `<N> = true|false|auto é=ü`, doc("", pair("<N>", "true|false|auto"), pair("é", "ü"))},
	{"mixed bare and quoted", `"a" = b c "d" = {}`, doc("", pair("a", "b"), grp("c", "d"))},
	{"semicolons", `"a" = "b"; "c" "" = { "d" = "e"; }; "f" = "g";`, doc("", pair("a", "b"), grp("c", "", pair("d", "e")), pair("f", "g"))},
	{"repeated and stray semicolons", `;; a = b;;; g = { ; ; } ;`, doc("", pair("a", "b"), grp("g", ""))},
	{"semicolon glued", `a=b;c=d;`, doc("", pair("a", "b"), pair("c", "d"))},
	{"CRLF line endings", "# KVGROUP-V1.0\r\n\"\" \"\" = {\r\n  \"a\" = \"b\" # c\r\n}\r\n", doc("1.0", grp("", "", pair("a", "b")))},
	{"all on one line", `# KVGROUP-V1.0 "" "" = { "changed" = "true" "infomsg" = "" "retval" = "0" "resource" "3G34" = { "removed" = "true" } "resource" "" = { "itemType" = "role" } }`,
		doc("1.0", grp("", "", pair("changed", "true"), pair("infomsg", ""), pair("retval", "0"), grp("resource", "3G34", pair("removed", "true")), grp("resource", "", pair("itemType", "role"))))},
	{"depth at the limit", nested(kvgroup.MaxDepth), nil},
}

var errCases = []struct {
	name      string
	in        string
	line, col int
	msg       string // a substring of SyntaxError.Msg
}{
	{"unterminated string", `"abc`, 1, 1, `unterminated string: no closing '"' before end of input`},
	{"unterminated value on line 2", "\"a\" = \"b\"\n  \"c\" = \"d\nmore", 2, 9, "unterminated string"},
	{"unterminated by trailing backslash", `"a" = "b\`, 1, 7, "unterminated string"},
	{"unterminated by escaped quote", `"a" = "b\"`, 1, 7, "unterminated string"},
	{"missing = after name", `"a" "b" "c"`, 1, 9, `expected '=' after key "a" and group name "b", found string "c"`},
	{"missing = at end of input", `"a"`, 1, 4, `expected '=' or a group name after key "a", found end of input`},
	{"missing = before brace", `"a" {`, 1, 5, `expected '=' or a group name after key "a", found '{'`},
	{"missing = before close", `"g" "" = { "a" }`, 1, 16, `expected '=' or a group name after key "a", found '}'`},
	{"missing = bare", "a b c", 1, 5, `expected '=' after key "a" and group name "b", found word "c"`},
	{"missing value at end of input", `"a" =`, 1, 6, `expected a value or '{' after "a" =, found end of input`},
	{"missing value before close", `"g" "" = { "a" = }`, 1, 18, `expected a value or '{' after "a" =, found '}'`},
	{"missing value before semicolon", `"a" = ;`, 1, 7, `found ';'`},
	{"missing value: = =", `"a" = = "b"`, 1, 7, `expected a value or '{' after "a" =, found '='`},
	{"garbage = =", `= =`, 1, 1, `expected a key (quoted string or word), found '='`},
	{"garbage brace", `{ "a" = "b" }`, 1, 1, `expected a key (quoted string or word), found '{'`},
	{"unexpected close", `}`, 1, 1, `unexpected '}': no group is open`},
	{"unexpected close after pair", "\"a\" = \"b\"\n}", 2, 1, `unexpected '}': no group is open`},
	{"one close too many", `"g" "" = { } }`, 1, 14, `unexpected '}'`},
	{"unclosed brace", `"a" "" = { "b" = "c"`, 1, 21, `expected '}' to close the group opened at line 1, column 10, found end of input`},
	{"unclosed inner brace", "\"\" \"\" = {\n  \"r\" \"\" = {\n    \"a\" = \"b\"\n}\n", 5, 1, `opened at line 1, column 9`},
	{"unclosed after comment swallowed the close", `"" "" = { "a" = "b" # c }`, 1, 26, `expected '}' to close the group opened at line 1, column 9`},
	{"named pair", `"a" "b" = "c"`, 1, 11, `expected '{' after "a" "b" =, found string "c" (a pair has no name)`},
	{"named nothing", `"a" "b" =`, 1, 10, `expected '{' after "a" "b" =, found end of input`},
	{"invalid UTF-8 in value", "\"a\" = \"x\xffy\"", 1, 9, "invalid UTF-8 in quoted string"},
	{"invalid UTF-8 in key on line 3", "\n\n  \"k\xc3\" = \"v\"", 3, 5, "invalid UTF-8 in quoted string"},
	{"invalid UTF-8 in bare word", "a = b\xe2\x82", 1, 6, "invalid UTF-8"},
	{"invalid UTF-8 in comment", "\"a\" = \"b\" # caf\xe9\n", 1, 16, "invalid UTF-8 in comment"},
	{"invalid UTF-8 in header", "# KVGROUP-V1\xff", 1, 13, "invalid UTF-8"},
	{"surrogate half is invalid", "\"a\" = \"\xed\xa0\x80\"", 1, 8, "invalid UTF-8"},
	{"unsupported version", "# KVGROUP-V2.0\n\"a\" = \"b\"", 1, 3, `unsupported header "KVGROUP-V2.0": want KVGROUP-V1.0 or KVGROUP-V1.1`},
	{"version with suffix", "# KVGROUP-V1.0x", 1, 3, `unsupported header "KVGROUP-V1.0x"`},
	{"header then garbage", "# KVGROUP-V1.0 generated by x\n", 1, 29, `expected '=' after key "generated" and group name "by", found word "x"`},
	{"too deep", nested(kvgroup.MaxDepth + 1), 1, 10*kvgroup.MaxDepth + 10, "groups nested too deeply: more than 256 levels of '{'"},
	{"far too deep", strings.Repeat("a={", 1_000_000), 1, 3*kvgroup.MaxDepth + 3, "nested too deeply"},
	{"column after BOM", "\xef\xbb\xbf}", 1, 1, "unexpected '}'"},
	{"long key is cut in the message", `"` + strings.Repeat("x", 100) + `" }`, 1, 104, `"` + strings.Repeat("x", 40) + `…", found '}'`},
}

func TestParse(t *testing.T) {
	for _, tc := range okCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kvgroup.Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse:\n got %s\nwant %s", dump(got), dump(tc.want))
			}
			roundTrip(t, []byte(tc.in), got)
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := kvgroup.Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %s", dump(d))
			}
			if d != nil {
				t.Errorf("Parse returned a document with its error")
			}
			var se *kvgroup.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			if se.Line != tc.line || se.Column != tc.col || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("got  line %d, column %d: %s\nwant line %d, column %d: …%s…", se.Line, se.Column, se.Msg, tc.line, tc.col, tc.msg)
			}
			want := fmt.Sprintf("kvgroup: line %d, column %d: %s", se.Line, se.Column, se.Msg)
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	d, err := kvgroup.Parse([]byte(nested(kvgroup.MaxDepth)))
	if err != nil {
		t.Fatal(err)
	}
	g, depth := &d.Root, 0
	for g.Sub("g") != nil {
		g, depth = g.Sub("g"), depth+1
	}
	if depth != kvgroup.MaxDepth {
		t.Errorf("depth %d, want %d", depth, kvgroup.MaxDepth)
	}
	if v, _ := g.Get("k"); v != "v" {
		t.Errorf("innermost k = %q", v)
	}
	// one level deeper cannot be written either
	g.Add(grp("g", ""))
	if _, err := d.Marshal(); err == nil || !strings.Contains(err.Error(), "nested deeper than 256") {
		t.Errorf("Marshal of depth %d: %v", kvgroup.MaxDepth+1, err)
	}
}

func TestWriteCanonical(t *testing.T) {
	d := doc("1.1",
		grp("", "",
			pair("retval", "0"),
			pair("msg", "say \"hi\"\\ \n\t\r \x00\x1f\x7f é ✓"),
			grp("resource", "R1", pair("remove", "true"), grp("inner", "", pair("a", "b"))),
			grp("empty", ""),
		),
		pair("after", ""),
	)
	want := `# KVGROUP-V1.1
"" "" = {
  "retval" = "0"
  "msg" = "say \"hi\"\\ \n\t\r \x00\x1f\x7f é ✓"
  "resource" "R1" = {
    "remove" = "true"
    "inner" "" = {
      "a" = "b"
    }
  }
  "empty" "" = {}
}
"after" = ""
`
	got, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
	}
	var buf bytes.Buffer
	if err := d.Write(&buf); err != nil || buf.String() != want {
		t.Errorf("Write = %q, %v", buf.String(), err)
	}
	back, err := kvgroup.Parse(got)
	if err != nil || !reflect.DeepEqual(back, d) {
		t.Errorf("Parse(Marshal(d)) = %s, %v", dump(back), err)
	}
	if got, _ := doc("").Marshal(); len(got) != 0 {
		t.Errorf("empty document writes %q", got)
	}
	if got, _ := doc("1.0").Marshal(); string(got) != "# KVGROUP-V1.0\n" {
		t.Errorf("header-only document writes %q", got)
	}
}

func TestWriteErrors(t *testing.T) {
	cyclic := doc("")
	cyclic.Root.Add(kvgroup.Entry{Key: "loop", Group: &cyclic.Root})
	var nilDoc *kvgroup.Document
	for _, tc := range []struct {
		name string
		d    *kvgroup.Document
		msg  string
	}{
		{"nil document", nilDoc, "nil *Document"},
		{"unknown version", doc("2.0"), `cannot write version "2.0"`},
		{"version with newline", doc("1.0\n\"a\" = \"b\""), "cannot write version"},
		{"invalid UTF-8 key", doc("", pair("k\xff", "v")), "not valid UTF-8"},
		{"invalid UTF-8 value", doc("", grp("g", "", pair("k", "v\xc3"))), "not valid UTF-8"},
		{"invalid UTF-8 name", doc("", grp("g", "\xff")), "not valid UTF-8"},
		{"pair with a name", doc("", kvgroup.Entry{Key: "k", Value: "v", Name: "n"}), `pair "k" has a Name`},
		{"group with a value", doc("", kvgroup.Entry{Key: "k", Value: "v", Group: &kvgroup.Group{}}), `group "k" has a Value`},
		{"cycle", cyclic, "nested deeper than 256 levels (or a cycle)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := tc.d.Write(&buf)
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "kvgroup: ") {
				t.Errorf("Write error = %v, want …%s…", err, tc.msg)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %q before failing", buf.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWritePassesWriterError(t *testing.T) {
	if err := doc("", pair("a", "b")).Write(failWriter{}); err == nil || err.Error() != "disk full" {
		t.Errorf("Write = %v", err)
	}
}

func TestLookups(t *testing.T) {
	d, err := kvgroup.Parse([]byte(`"" "" = {
		"retval" "" = { "x" = "group first" }
		"retval" = "0"
		"retval" = "1"
		"resource" "A" = { "itemType" = "template" "itemType" = "template2" }
		"resource" "" = { "itemType" = "role" }
	}`))
	if err != nil {
		t.Fatal(err)
	}
	body := d.Root.Sub("")
	if body == nil {
		t.Fatal(`Sub("") = nil`)
	}
	if v, ok := body.Get("retval"); !ok || v != "0" {
		t.Errorf(`Get("retval") = %q, %v; want the first pair, "0"`, v, ok)
	}
	if v, ok := body.Get("missing"); ok || v != "" {
		t.Errorf(`Get("missing") = %q, %v`, v, ok)
	}
	if v, ok := body.Get("resource"); ok {
		t.Errorf(`Get("resource") found group as pair: %q`, v)
	}
	if all := body.All("retval"); len(all) != 3 || all[0].Group == nil || all[1].Value != "0" || all[2].Value != "1" {
		t.Errorf(`All("retval") = %+v`, all)
	}
	res := body.All("resource")
	if len(res) != 2 || res[0].Name != "A" || res[1].Name != "" {
		t.Fatalf(`All("resource") = %+v`, res)
	}
	if it := res[0].Group.All("itemType"); len(it) != 2 || it[0].Value != "template" || it[1].Value != "template2" {
		t.Errorf("repeated itemType = %+v", it)
	}
	if body.All("missing") != nil {
		t.Errorf(`All("missing") != nil`)
	}
	if g := body.Sub("resource"); g != res[0].Group {
		t.Errorf(`Sub("resource") is not the first resource`)
	}
	if g := body.Sub("retval"); g == nil || g.Entries[0].Value != "group first" {
		t.Errorf(`Sub("retval") = %+v`, g)
	}
	if body.Sub("missing") != nil {
		t.Errorf(`Sub("missing") != nil`)
	}

	// nil groups read as empty, so chains need no checks
	var none *kvgroup.Group
	if v, ok := d.Root.Sub("nope").Sub("deeper").Get("x"); ok || v != "" || none.All("x") != nil || none.Sub("x") != nil {
		t.Errorf("nil group lookups found something")
	}

	body.Set("retval", "7")
	body.Set("changed", "true")
	if all := body.All("retval"); all[0].Group == nil || all[1].Value != "7" || all[2].Value != "1" {
		t.Errorf("Set replaced the wrong entry: %+v", all)
	}
	if last := body.Entries[len(body.Entries)-1]; last != pair("changed", "true") {
		t.Errorf("Set did not append: %+v", last)
	}
	body.Add(grp("resource", "B", pair("remove", "true")))
	if res := body.All("resource"); len(res) != 3 || res[2].Name != "B" {
		t.Errorf("Add: %+v", res)
	}
	var g kvgroup.Group
	g.Set("a", "b")
	if v, _ := g.Get("a"); v != "b" {
		t.Errorf("Set on zero Group: %q", v)
	}
}

// TestLargeInput: a few MB parse in one pass, one long line or many, and so does a single
// multi-megabyte string full of escapes.
func TestLargeInput(t *testing.T) {
	big := genDoc(4 << 20)
	d, err := kvgroup.Parse(big)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, big, d)
	// without its comments, the document is the same on one line
	oneLine := bytes.ReplaceAll(big, []byte("# comment"), nil)
	oneLine = bytes.ReplaceAll(oneLine, []byte("# tolerated"), nil)
	oneLine = bytes.ReplaceAll(oneLine[len("# KVGROUP-V1.1\n"):], []byte("\n"), []byte(" "))
	oneLine = append([]byte("# KVGROUP-V1.1 "), oneLine...)
	d2, err := kvgroup.Parse(oneLine)
	if err != nil || !reflect.DeepEqual(d, d2) {
		t.Fatalf("one-line form differs: %v", err)
	}

	s := strings.Repeat(`ab\"\\\n\x41é`, 300_000)
	d, err = kvgroup.Parse([]byte(`"k" = "` + s + `"`))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Root.Get("k"); v != strings.Repeat("ab\"\\\nAé", 300_000) {
		t.Errorf("long escaped string decoded wrongly (len %d)", len(v))
	}
}

// roundTrip checks Parse(Marshal(d)) deep-equals d and that canonical output is stable.
func roundTrip(t testing.TB, in []byte, d *kvgroup.Document) {
	t.Helper()
	out, err := d.Marshal()
	if err != nil {
		t.Fatalf("Marshal of parsed %q: %v", in, err)
	}
	back, err := kvgroup.Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal(Parse(%q))): %v\noutput:\n%s", in, err, out)
	}
	if !reflect.DeepEqual(back, d) {
		t.Fatalf("round trip of %q differs:\n got %s\nwant %s", in, dump(back), dump(d))
	}
	out2, err := back.Marshal()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("canonical output is not stable:\n%s\n---\n%s", out, out2)
	}
}

func dump(d *kvgroup.Document) string {
	if d == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Version %q ", d.Version)
	dumpGroup(&b, &d.Root)
	return b.String()
}

func dumpGroup(b *strings.Builder, g *kvgroup.Group) {
	if g.Entries == nil {
		b.WriteString("{nil}")
		return
	}
	b.WriteString("{")
	for _, e := range g.Entries {
		if e.Group == nil {
			fmt.Fprintf(b, " %q=%q(name %q)", e.Key, e.Value, e.Name)
			continue
		}
		fmt.Fprintf(b, " %q %q(value %q)=", e.Key, e.Name, e.Value)
		dumpGroup(b, e.Group)
	}
	b.WriteString(" }")
}

// genDoc returns a plugin-input-like document of about size bytes.
func genDoc(size int) []byte {
	var b bytes.Buffer
	b.WriteString("# KVGROUP-V1.1\n\"\" \"\" = {\n  \"module\" = \"idwfm\" # comment\n  \"request\" \"\" = {\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "    \"resource\" \"%032X\" = {\n", i)
		fmt.Fprintf(&b, "      \"itemType\" = \"accountID\"\n      \"targetid\" = \"AD\"\n      \"accountID\" = \"user%06d\"\n", i)
		b.WriteString("      \"groupApproval\" = \"00000000-0000-0000-0000-000000000000\"\n")
		b.WriteString("      \"notes\" = \"line one\\nline \\\"two\\\" C:\\\\temp\"\n")
		fmt.Fprintf(&b, "      \"attribute\" \"WORKLOC-%d\" = { \"value\" \"\" = { \"value\" = \"Building Floor Cubicle \" } }\n", i%7)
		b.WriteString("      \"autoselect\" = \"none\" ; # tolerated\n    }\n")
	}
	b.WriteString("  }\n}\n")
	return b.Bytes()
}
