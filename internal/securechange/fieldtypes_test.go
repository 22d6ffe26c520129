package securechange_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
)

// fieldTypesTicket is testdata/securechange/field_types.json: one task with a
// field of every type of securechange.FieldTypes (written from pytos's rest.py
// classes), one of an unknown type, two read-only fields and a comment whose
// "user" is an array.
func fieldTypesTicket(t *testing.T) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "securechange", "field_types.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFieldTypes: for every type of securechange.FieldTypes, decode the fixture,
// render the field in a template, write a new value back through the client to
// the simulator (checking the key it is sent under), and read it back.
func TestFieldTypes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, field string
		value      string // decoded Value (writable types) or a part of FieldRaw
		write      string // the value written ("" for types that cannot be written)
		key        string // the key the write is sent under
		sent       any    // what is sent under key
		readBack   string
	}{
		{"text_field", "Text", "hello", "bye", "text", "bye", "bye"},
		{"text_area", "Area", "line one\nline two", "x\ny", "text", "x\ny", "x\ny"},
		{"manager", "Manager", "b.boss", "c.chief", "text", "c.chief", "c.chief"},
		{"date", "Date", "2025-12-31", "2026-01-15", "value", "2026-01-15", "2026-01-15"},
		{"time", "Time", "22:30", "06:05", "value", "06:05", "06:05"},
		{"hyperlink", "Link", "https://itsm.example.com/CHG1", "https://itsm.example.com/CHG2", "url", "https://itsm.example.com/CHG2", "https://itsm.example.com/CHG2"},
		{"checkbox", "Check", "false", "yes", "value", true, "true"},
		{"drop_down_list", "Drop", "Low", "high", "selection", "High", "High"},
		{"multiple_selection", "Multi", "EU", "EU, US", "selected_options", map[string]any{"selected_option": []any{map[string]any{"value": "EU"}, map[string]any{"value": "US"}}}, "EU, US"},
		{"approve_reject", "Approve", "", "reject: too broad", "approved", false, "false"},
		{"multi_text_field", "MultiText", `"text_field": [{"id": 1, "text": "a"}`, "", "", nil, ""},
		{"multi_text_area", "MultiArea", `"text_area": {"id": 1, "text": "a"}`, "", "", nil, ""},
		{"multi_hyperlink", "MultiLink", `"url": "https://a.example"`, "", "", nil, ""},
		{"multi_access_request", "AR", `"order": "AR1"`, "", "", nil, ""},
		{"multi_server_decommission_request", "Decom", `"order": "SD1"`, "", "", nil, ""},
		{"multi_group_change", "Group", `"group_change": {"name": "web"}`, "", "", nil, ""},
		{"multi_network_object", "NetObj", `"name": "h1"`, "", "", nil, ""},
		{"multi_service", "Service", `"name": "https"`, "", "", nil, ""},
		{"multi_target", "Target", `"object_name": "fw1"`, "", "", nil, ""},
		{"rule_decommission", "RuleDecom", `"action": "DISABLE"`, "", "", nil, ""},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.typ] = true
	}
	for typ := range securechange.FieldTypes {
		if !covered[typ] {
			t.Errorf("securechange.FieldTypes[%q] has no case here", typ)
		}
	}
	raw := fieldTypesTicket(t)
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			ft, known := securechange.LookupFieldType(tc.typ)
			if !known || ft.Writable != (tc.write != "") {
				t.Fatalf("LookupFieldType(%q) = %+v, %v", tc.typ, ft, known)
			}
			// Decode.
			tk, err := securechange.DecodeTicket(raw)
			if err != nil {
				t.Fatalf("DecodeTicket: %v", err)
			}
			f, ok := tk.Field(tc.field)
			if !ok || f.Type != tc.typ {
				t.Fatalf("Field(%q) = %+v, %v", tc.field, f, ok)
			}
			// Render: a #placeholder# for modelled types, the raw JSON for others.
			tmpl := "#" + tc.field + "#"
			if ft.Shape == securechange.ShapeRaw {
				tmpl = `{{.Ticket.FieldRaw "` + tc.field + `"}}`
			}
			out, err := wfi.Render("t", tmpl, &wfi.Data{Ticket: &tk, Now: time.Now()}, wfi.EscapeNone)
			if err != nil {
				t.Fatalf("Render %s: %v", tmpl, err)
			}
			if ft.Shape == securechange.ShapeRaw {
				if !strings.Contains(string(out), tc.value) || !json.Valid(out) {
					t.Errorf("rendered %s = %s, want JSON containing %s", tmpl, out, tc.value)
				}
			} else if f.Value() != tc.value || string(out) != tc.value {
				t.Errorf("Value() = %q, rendered %q; want %q", f.Value(), out, tc.value)
			}
			// Write back and read back.
			sim, cl := newSim(t)
			sim.Put(raw)
			err = cl.UpdateFields(t.Context(), "9", map[string]string{tc.field: orDefault(tc.write, "x")})
			if tc.write == "" {
				if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "cannot be written") {
					t.Errorf("UpdateFields(%s) = %v, want a permanent 'cannot be written'", tc.typ, err)
				}
				if w := writes(sim); len(w) != 0 {
					t.Errorf("%d writes sent", len(w))
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateFields: %v", err)
			}
			w := onlyWrite(t, sim, "/tickets/9/steps/1/tasks/11/fields")
			sent := sentFields(t, w.Body)[tc.field]
			gotJSON, _ := json.Marshal(sent[tc.key])
			wantJSON, _ := json.Marshal(tc.sent)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("sent %s = %s, want %s (whole field %v)", tc.key, gotJSON, wantJSON, sent)
			}
			if ft.ValueKey != "text" {
				if _, has := sent["text"]; has {
					t.Errorf("sent a %q key for a %s: %v", "text", tc.typ, sent)
				}
			}
			if v, _ := sim.Ticket("9").Value(tc.field); v != tc.readBack {
				t.Errorf("read back %q, want %q", v, tc.readBack)
			}
		})
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// TestFieldTypesLenient: the fixture's array "user" comment and unknown field
// type decode, and the unknown type is readable as raw JSON in a template.
func TestFieldTypesLenient(t *testing.T) {
	t.Parallel()
	tk, err := securechange.DecodeTicket(fieldTypesTicket(t))
	if err != nil {
		t.Fatalf("DecodeTicket: %v", err)
	}
	if tk.Comments[0].User != "a.jones, b.boss" || tk.Comments[1].User != "a.jones" {
		t.Errorf("comment users %q, %q", tk.Comments[0].User, tk.Comments[1].User)
	}
	out, err := wfi.Render("t", `{{.Ticket.FieldRaw "Unknown"}}|#ticket_comments#`, &wfi.Data{Ticket: &tk, Now: time.Now()}, wfi.EscapeNone)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"widget": {"a": [1, 2]}`) || !strings.Contains(string(out), "a.jones, b.boss: two users") {
		t.Errorf("rendered %s", out)
	}
}

// TestUpdateFieldsReadOnly: a write-back to a read-only field is a permanent
// error naming it, and nothing is sent.
func TestUpdateFieldsReadOnly(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Locked", "Locked Date"} {
		sim, cl := newSim(t)
		sim.Put(fieldTypesTicket(t))
		err := cl.UpdateFields(t.Context(), "9", map[string]string{name: "2026-02-02", "Text": "also"})
		if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), `"`+name+`"`) || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("UpdateFields(%s) = %v, want a permanent error naming it read-only", name, err)
		}
		if w := writes(sim); len(w) != 0 {
			t.Errorf("%s: %d writes sent", name, len(w))
		}
	}
}

// TestApproveRejectReadOnly: the approve_reject field itself read-only.
func TestApproveRejectReadOnly(t *testing.T) {
	t.Parallel()
	sim, cl := newSim(t)
	sim.Put(json.RawMessage(strings.Replace(string(fieldTypesTicket(t)),
		`"name": "Approve", "reason": ""`, `"name": "Approve", "reason": "", "read_only": true`, 1)))
	err := cl.ApproveReject(t.Context(), "9", true, "ok")
	if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), `"Approve"`) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("ApproveReject = %v", err)
	}
	if w := writes(sim); len(w) != 0 {
		t.Errorf("%d writes sent", len(w))
	}
}
