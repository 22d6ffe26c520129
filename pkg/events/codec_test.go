package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// codecCases are the wire types the codec encodes and decodes, each with a fresh value
// to decode into.
var codecCases = map[string]func() any{
	"operation": func() any { return new(Operation) },
	"plan":      func() any { return new(Plan) },
	"result":    func() any { return new(Result) },
	"trigger":   func() any { return new(TriggerEvent) },
	"itsm":      func() any { return new(ITSMSpec) },
	"email":     func() any { return new(EmailSpec) },
	"sc":        func() any { return new(SecureChangeSpec) },
}

// checkCodec decodes b into each wire type with encoding/json and with the codec and
// fails on any difference: the value, whether it is an error, and the bytes it encodes
// back to. (An error's words may differ: the codec names the path of a mistyped map
// value, Operation.attrs.a where encoding/json says Operation.attrs.)
func checkCodec(t *testing.T, b []byte) {
	t.Helper()
	for name, fresh := range codecCases {
		want, got := fresh(), fresh()
		werr, gerr := json.Unmarshal(b, want), unmarshal(b, got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: decoding %q: encoding/json says %v, the codec %v", name, b, werr, gerr)
		}
		if werr != nil {
			continue
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%s: decoding %q: encoding/json gives %+v, the codec %+v", name, b, want, got)
		}
		wb, werr := stdMarshal(want)
		gb, gerr := marshal(got)
		if (werr == nil) != (gerr == nil) || string(wb) != string(gb) {
			t.Fatalf("%s: encoding %q:\nencoding/json: %s (%v)\nthe codec:     %s (%v)", name, b, wb, werr, gb, gerr)
		}
	}
}

// stdMarshal is the codec's reference: encoding/json's Encoder with SetEscapeHTML(false),
// less the newline it ends with.
func stdMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// TestCodecMatchesEncodingJSON: every golden wire file and a few broken inputs decode
// and encode as encoding/json does, errors included.
func TestCodecMatchesEncodingJSON(t *testing.T) {
	files, err := filepath.Glob("testdata/*.golden.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkCodec(t, b) })
	}
	for _, b := range []string{
		``, `null`, `not json`, `{"id":5}`, `{"id":"x"`, `{"ID":"case-insensitive"}`,
		`{"id":"a","id":"b"}`, "{\"id\":\"\xff\"}", `{"spec":[1,2],"attrs":{"a":1}}`,
		`{"context":{"ticket":{"x":[1,2]}}}`, `{"attempts":[{"n":"1"}]}`, `[]`,
	} {
		checkCodec(t, []byte(b))
	}
}

// FuzzCodecMatchesEncodingJSON is TestCodecMatchesEncodingJSON on any input (seeded
// with the golden files).
func FuzzCodecMatchesEncodingJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.golden.json")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCodec(t, b) })
}

// BenchmarkUnmarshalOperation decodes an operation as the runner does for each message,
// with the codec and (Std) with encoding/json: the reason for the codec's dependency.
func BenchmarkUnmarshalOperation(b *testing.B) {
	in := benchOperation(b)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := UnmarshalOperation(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var o Operation
			if err := json.Unmarshal(in, &o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMarshalResult encodes a result as the runner does for each operation.
func BenchmarkMarshalResult(b *testing.B) {
	r, err := UnmarshalResult(testdata(b, "result.golden.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMarshalOperation encodes an operation as the dispatcher does for each one it
// plans, and reports its size: the codec writes markup as it is (wireOptions), where
// encoding/json.Marshal escapes every "<", ">" and "&" in six bytes.
func BenchmarkMarshalOperation(b *testing.B) {
	var o Operation
	if err := json.Unmarshal(benchOperation(b), &o); err != nil {
		b.Fatal(err)
	}
	for name, marshal := range map[string]func(any) ([]byte, error){"codec": marshal, "encoding-json": json.Marshal} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				var err error
				if out, err = marshal(o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out)), "wire-bytes")
		})
	}
}

// benchOperation is an operation as the dispatcher publishes one: the plan golden file's
// first operation, with its template context (the trigger golden file, and a ticket of
// the SecureChange decoder's tests).
func benchOperation(b *testing.B) []byte {
	b.Helper()
	p, err := UnmarshalPlan(testdata(b, "plan.golden.json"))
	if err != nil || len(p.Operations) == 0 {
		b.Fatalf("plan golden file: %v", err)
	}
	trig, err := UnmarshalTriggerEvent(testdata(b, "trigger_event.golden.json"))
	if err != nil {
		b.Fatal(err)
	}
	o := p.Operations[0]
	ticket, err := os.ReadFile(filepath.Join("..", "..", "internal", "securechange", "testdata", "tickets", "many_steps_many_fields.json"))
	if err != nil {
		b.Fatal(err)
	}
	o.Context = &OpContext{Trigger: trig, Ticket: ticket}
	out, err := json.Marshal(o)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// testdata is a file of testdata/.
func testdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestWireKeepsMarkup: "<", ">" and "&" are written as they are on every wire type, as on
// the stored trigger, not as six-byte escapes: an operation carries its trigger's
// raw_xml, whose tags the escapes doubled.
func TestWireKeepsMarkup(t *testing.T) {
	const xml = `<ticket_info><id>7</id><subject>a &amp; b</subject></ticket_info>`
	trig := TriggerEvent{ID: "t", Event: "CREATE", RawXML: xml}
	op := Operation{ID: "o", Kind: OpITSM, Context: &OpContext{Trigger: trig}}
	for name, marshal := range map[string]func() ([]byte, error){"trigger": trig.Marshal, "operation": op.Marshal} {
		b, err := marshal()
		if err != nil {
			t.Fatal(err)
		}
		if want := `"raw_xml":"` + xml + `"`; !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s: %s lacks %s", name, b, want)
		}
	}
}
