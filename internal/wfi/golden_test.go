package wfi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/wfi"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.out from the current output")

// examplesDir holds the WFI example templates shipped with triggerflow.
const examplesDir = "../../examples/templates"

// goldenFixture says which fixture (testdata/fixtures/<dir>) an example
// template renders against: the trigger it is meant for. Any other template
// renders against "advance".
var goldenFixture = map[string]string{
	"servicenow-create.json": "create",
	"jira-create.json":       "create",
	"servicenow-reject.json": "reject",
	"servicenow-close.json":  "close",
}

// TestExampleTemplatesGolden renders every examples/templates/*.json and
// compares it with testdata/golden/<name>.out (go test -run Golden -update
// rewrites them). Adding a template means adding its golden file.
func TestExampleTemplatesGolden(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no templates in %s", examplesDir)
	}
	seen := map[string]bool{}
	for _, p := range paths {
		name := filepath.Base(p)
		seen[name+".out"] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			text, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := wfi.Parse(name, string(text), wfi.EscapeJSON)
			if err != nil {
				t.Fatal(err)
			}
			dir := goldenFixture[name]
			if dir == "" {
				dir = "advance"
			}
			got, err := tmpl.Render(fixture(t, dir, true))
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Errorf("%s renders invalid JSON:\n%s", name, got)
			}
			golden := filepath.Join("testdata", "golden", name+".out")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (go test -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", name, golden, got, want)
			}
		})
	}
	// A golden file without its template is stale.
	outs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.out"))
	for _, o := range outs {
		if !seen[filepath.Base(o)] {
			t.Errorf("%s has no template in %s", o, examplesDir)
		}
	}
}

// TestExampleTemplatesWithoutEnrichment: without an enriched ticket, the
// templates that need one fail with a missing placeholder, never with a
// broken payload.
func TestExampleTemplatesWithoutEnrichment(t *testing.T) {
	t.Parallel()
	paths, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := wfi.Render(filepath.Base(p), string(text), fixture(t, "advance", false), wfi.EscapeJSON)
		if err == nil && !json.Valid(out) {
			t.Errorf("%s: invalid JSON without a ticket:\n%s", p, out)
		}
		if err != nil && !strings.Contains(err.Error(), "is not defined") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestHostileSubjectStaysValidJSON: a subject with quotes, backslashes,
// newlines, a placeholder and a Go action renders as valid JSON holding the
// literal text.
func TestHostileSubjectStaysValidJSON(t *testing.T) {
	t.Parallel()
	const subject = "Allow \"web\" \\\\srv01\\share\nnext line #ticket_id# {{.}} {{ph \"x\"}} ## end"
	text, err := os.ReadFile(filepath.Join(examplesDir, "servicenow-create.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, enriched := range []bool{true, false} {
		d := fixture(t, "create", true)
		d.Ticket.Subject = subject
		if !enriched {
			d = fixture(t, "create", false)
			d.Trigger.Ticket.Subject = subject
			text = []byte(`{"short_description": "SecureChange ticket #ticket_id#: #ticket_subject#", "id": "#trigger_id#"}`)
		}
		out, err := wfi.Render("servicenow-create.json", string(text), d, wfi.EscapeJSON)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, out)
		}
		if got, want := v["short_description"], "SecureChange ticket 1002: "+subject; got != want {
			t.Errorf("short_description:\n got %q\nwant %q", got, want)
		}
	}
}

func BenchmarkRenderServiceNowCreate(b *testing.B) {
	text, err := os.ReadFile(filepath.Join(examplesDir, "servicenow-create.json"))
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := wfi.Parse("servicenow-create.json", string(text), wfi.EscapeJSON)
	if err != nil {
		b.Fatal(err)
	}
	d := fixture(b, "create", true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewData(b *testing.B) {
	op := fixtureOp(b, "advance", true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wfi.NewData(op, fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}
