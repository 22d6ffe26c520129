package securechange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

func ticketBool(b bool) *bool { return &b }

// readTicketFile returns testdata/tickets/name.
func readTicketFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tickets", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeTicketFile(t testing.TB, name string) Ticket {
	t.Helper()
	tk, err := DecodeTicket(readTicketFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tk
}

// withoutRaw returns a deep copy of tk with every Raw cleared, so decoded
// values can be compared regardless of how they were spelled.
func withoutRaw(tk Ticket) Ticket {
	tk.Raw = nil
	steps := tk.Steps
	tk.Steps = nil
	for _, s := range steps {
		tasks := s.Tasks
		s.Tasks = nil
		for _, task := range tasks {
			fields := task.Fields
			task.Fields = nil
			for _, f := range fields {
				f.Raw = nil
				task.Fields = append(task.Fields, f)
			}
			s.Tasks = append(s.Tasks, task)
		}
		tk.Steps = append(tk.Steps, s)
	}
	return tk
}

// ticketDiff lists the leaves in which got and want differ, by Go path.
func ticketDiff(got, want any) []string {
	var out []string
	diffTicketValues("Ticket", reflect.ValueOf(got), reflect.ValueOf(want), &out)
	return out
}

func diffTicketValues(path string, got, want reflect.Value, out *[]string) {
	if reflect.DeepEqual(got.Interface(), want.Interface()) {
		return
	}
	switch got.Kind() {
	case reflect.Struct:
		for i := 0; i < got.NumField(); i++ {
			diffTicketValues(path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i), out)
		}
		return
	case reflect.Slice:
		if got.Len() == want.Len() {
			for i := 0; i < got.Len(); i++ {
				diffTicketValues(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i), out)
			}
			return
		}
	case reflect.Pointer:
		if !got.IsNil() && !want.IsNil() {
			diffTicketValues("*"+path, got.Elem(), want.Elem(), out)
			return
		}
	}
	show := func(v reflect.Value) string {
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			return fmt.Sprintf("&%#v", v.Elem().Interface())
		}
		return fmt.Sprintf("%#v", v.Interface())
	}
	*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want)))
}

func checkTicket(t *testing.T, got, want Ticket) {
	t.Helper()
	for _, d := range ticketDiff(withoutRaw(got), withoutRaw(want)) {
		t.Error(d)
	}
}

// singleTask is the ticket of single_task_object.json, single_task_array.json
// and string_ids.json.
var singleTask = Ticket{
	ID: "500", Subject: "Single task, objects everywhere", Requester: "c.lee", RequesterID: "9",
	Priority: "High", Status: "In Progress", Domain: "Default",
	Workflow:    Workflow{ID: "3", Name: "Rule Change"},
	CurrentStep: &StepRef{ID: "52", Name: "Implement"},
	Comments:    []Comment{{Content: "created via API", Created: "2025-11-20T10:00:00Z", TaskName: "Open request", Type: "normal", User: "c.lee"}},
	Steps: []Step{
		{ID: "51", Name: "Open request", Tasks: []Task{{
			ID: "511", Status: "DONE", AssigneeID: "9", Assignee: "c.lee",
			Fields: []Field{{ID: "5111", Name: "Change Type", Type: "drop_down_list", Selection: "Add rule", Options: []string{"Add rule"}}},
		}}},
		{ID: "52", Name: "Implement", Redone: true, Tasks: []Task{{
			ID: "521", Name: "Implement", Status: "ASSIGNED", AssigneeID: "11", Assignee: "ops",
			Fields: []Field{{ID: "5211", Name: "Devices", Type: "multiple_selection", Options: []string{"fw-1"}, Selected: []string{"fw-1"}}},
		}}},
	},
}

var ticketFileCases = []struct {
	file string
	want Ticket
}{
	{
		file: "one_step_one_field.json",
		want: Ticket{
			ID: "1", Subject: "Smallest ticket", Requester: "a.jones", RequesterID: "42",
			Priority: "Low", Status: "In Progress", Domain: "Default",
			Workflow:    Workflow{ID: "7", Name: "Access Request"},
			CurrentStep: &StepRef{ID: "1", Name: "Open request"},
			Steps: []Step{{ID: "1", Name: "Open request", Tasks: []Task{{
				ID: "11", Status: "ASSIGNED", AssigneeID: "42", Assignee: "a.jones",
				Fields: []Field{{ID: "101", Name: "Business Justification", Type: "text_field", Text: "orders db"}},
			}}}},
		},
	},
	{
		file: "many_steps_many_fields.json",
		want: Ticket{
			ID: "1234", Subject: "Allow web to db", Requester: "a.jones", RequesterID: "42",
			Priority: "Normal", Status: "In Progress", Domain: "Default",
			Workflow:    Workflow{ID: "7", Name: "Access Request"},
			CurrentStep: &StepRef{ID: "3", Name: "Approval"},
			Comments: []Comment{
				{Content: "please hurry", Created: "2025-11-23T08:01:00Z", TaskName: "Open request", Type: "normal", User: "a.jones"},
				{Content: "risk is low", Created: "2025-11-23T09:15:00Z", TaskName: "Risk Review", Type: "normal", User: "r.view"},
			},
			Steps: []Step{
				{ID: "1", Name: "Open request", Tasks: []Task{{
					ID: "11", Status: "DONE", AssigneeID: "42", Assignee: "a.jones",
					Fields: []Field{
						{ID: "101", Name: "Access Request", Type: "multi_access_request"},
						{ID: "102", Name: "Business Justification", Type: "text_field", Text: "orders db"},
					},
				}}},
				{ID: "2", Name: "Risk Review", Skipped: true, Tasks: []Task{{
					ID: "21", Name: "Review risk", Status: "DONE", AssigneeID: "60", Assignee: "r.view",
					Fields: []Field{{ID: "201", Name: "Risk Notes", Type: "text_area", Text: "no risk\nfound"}},
				}}},
				{ID: "3", Name: "Approval", Tasks: []Task{{
					ID: "31", Status: "ASSIGNED", AssigneeID: "50", Assignee: "n.eng",
					Fields: []Field{
						{ID: "301", Name: "Approve Access Request", Type: "approve_reject", Approved: ticketBool(true), Reason: "ok"},
						{ID: "302", Name: "Risk", Type: "drop_down_list", Options: []string{"Low", "High"}, Selection: "Low"},
						{ID: "303", Name: "Emergency", Type: "checkbox", Checked: ticketBool(false)},
						{ID: "304", Name: "Regions", Type: "multiple_selection", Options: []string{"EU", "US"}, Selected: []string{"EU"}},
						{ID: "305", Name: "Zones", Type: "multiple_selection", Options: []string{"DMZ", "Core", "Lab"}, Selected: []string{"DMZ", "Core"}},
						{ID: "306", Name: "Audited", Type: "checkbox", Checked: ticketBool(true)},
						{ID: "307", Name: "Notes", Type: "text_area", Text: "line one\nline two"},
						{ID: "308", Name: "Change Record", Type: "hyperlink", Text: "https://itsm.example.com/CHG0012345"},
						{ID: "309", Name: "Window Date", Type: "date", Text: "2025-12-01"},
						{ID: "310", Name: "Window Time", Type: "time", Text: "22:30"},
						{ID: "311", Name: "Manager", Type: "manager", Text: "b.boss"},
						{ID: "312", Name: "ITSM Ticket", Type: "text_field", Text: "CHG0012345"},
						{ID: "313", Name: "Security Sign-off", Type: "approve_reject"},
						{ID: "314", Name: "Group Change", Type: "multi_group_change"},
						{ID: "315", Name: "Unset Choice", Type: "drop_down_list", Options: []string{"Only"}},
					},
				}}},
			},
		},
	},
	{file: "single_task_object.json", want: singleTask},
	{file: "single_task_array.json", want: singleTask},
	{file: "string_ids.json", want: singleTask},
	{
		file: "tasks_array.json",
		want: Ticket{
			ID: "777", Subject: "Parallel approvals", Requester: "d.kim", RequesterID: "12",
			Priority: "Critical", Status: "In Progress", Domain: "Default",
			Workflow:    Workflow{ID: "8", Name: "Dual Approval"},
			CurrentStep: &StepRef{ID: "72", Name: "Parallel Approval"},
			Steps: []Step{
				{ID: "71", Name: "Open request", Tasks: []Task{{
					ID: "711", Status: "DONE", AssigneeID: "12", Assignee: "d.kim",
					Fields: []Field{{ID: "7111", Name: "Business Justification", Type: "text_field", Text: "audit"}},
				}}},
				{ID: "72", Name: "Parallel Approval", Tasks: []Task{
					{ID: "721", Name: "Network approval", Status: "DONE", AssigneeID: "20", Assignee: "net.team", Fields: []Field{
						{ID: "7211", Name: "Approve", Type: "approve_reject", Approved: ticketBool(true), Reason: "network ok"},
						{ID: "7212", Name: "Network Notes", Type: "text_field", Text: "via core"},
					}},
					{ID: "722", Name: "Security approval", Status: "ASSIGNED", AssigneeID: "30", Assignee: "sec.team", Fields: []Field{
						{ID: "7221", Name: "Approve", Type: "approve_reject", Approved: ticketBool(false), Reason: "needs MFA"},
						{ID: "7222", Name: "Security Reviewed", Type: "checkbox", Checked: ticketBool(true)},
					}},
				}},
			},
		},
	},
	{
		file: "empty_collections.json",
		want: Ticket{
			ID: "900", Subject: "Empty collections in every form", Requester: "e.mpty", Status: "Resolved",
			Steps: []Step{
				{ID: "1", Name: "no tasks key"},
				{ID: "2", Name: "tasks null"},
				{ID: "3", Name: "tasks empty string"},
				{ID: "4", Name: "tasks empty object"},
				{ID: "5", Name: "task null"},
				{ID: "6", Name: "task empty string"},
				{ID: "7", Name: "task empty object"},
				{ID: "8", Name: "task empty array"},
				{ID: "9", Name: "fields in every empty form", Tasks: []Task{
					{ID: "91", Status: "DONE"},
					{ID: "92", Status: "DONE"},
					{ID: "93", Status: "DONE"},
					{ID: "94", Status: "DONE"},
					{ID: "95", Status: "DONE"},
					{ID: "96", Status: "DONE"},
					{ID: "97", Status: "DONE"},
					{ID: "98", Status: "DONE"},
					{ID: "99", Status: "ASSIGNED", Fields: []Field{
						{ID: "991", Name: "No Options", Type: "drop_down_list"},
						{ID: "992", Name: "Null Options", Type: "drop_down_list"},
						{ID: "993", Name: "Nothing Selected", Type: "multiple_selection", Options: []string{"A", "B"}},
						{ID: "994", Name: "Empty Selected Array", Type: "multiple_selection"},
						{ID: "995", Name: "Unset Checkbox", Type: "checkbox"},
						{ID: "996", Name: "Undecided", Type: "approve_reject"},
						{ID: "997", Name: "Blank", Type: "text_field"},
						{ID: "998", Name: "Absent Text", Type: "text_area"},
					}},
				}},
			},
		},
	},
}

func TestDecodeTicketFiles(t *testing.T) {
	t.Parallel()
	for _, c := range ticketFileCases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			checkTicket(t, decodeTicketFile(t, c.file), c.want)
		})
	}
}

// TestDecodeTicketFilesCovered makes sure every file in testdata/tickets has
// a case above (the fuzz test is seeded from all of them).
func TestDecodeTicketFilesCovered(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "tickets", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, c := range ticketFileCases {
		covered[c.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in ticketFileCases", f)
		}
	}
	if len(files) < len(covered) {
		t.Errorf("%d files for %d cases", len(files), len(covered))
	}
}

// TestDecodeTicketObjectArrayEquivalence checks that a ticket decodes the same
// whether its one-element collections are objects or one-element arrays:
// the hand-written pair, then every file rewritten both ways.
func TestDecodeTicketObjectArrayEquivalence(t *testing.T) {
	t.Parallel()
	obj := decodeTicketFile(t, "single_task_object.json")
	arr := decodeTicketFile(t, "single_task_array.json")
	checkTicket(t, arr, obj)

	for _, c := range ticketFileCases {
		in := readTicketFile(t, c.file)
		orig, err := DecodeTicket(in)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		for _, toArray := range []bool{true, false} {
			rewritten := rewriteCollections(t, in, toArray)
			got, err := DecodeTicket(rewritten)
			if err != nil {
				t.Fatalf("%s rewritten (toArray=%v): %v\n%s", c.file, toArray, err, rewritten)
			}
			for _, d := range ticketDiff(withoutRaw(got), withoutRaw(orig)) {
				t.Errorf("%s rewritten (toArray=%v): %s", c.file, toArray, d)
			}
		}
	}
}

// ticketCollections are the wrapper and child names of the collections the
// decoder reads.
var ticketCollections = map[string]string{
	"steps": "step", "tasks": "task", "fields": "field", "comments": "comment",
	"options": "option", "selected_options": "selected_option",
}

// rewriteCollections rewrites every collection child in the JSON document
// in: with toArray, a single object becomes a one-element array; otherwise a
// one-element array becomes its element.
func rewriteCollections(t *testing.T, in []byte, toArray bool) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
				child, ok := ticketCollections[k]
				if !ok {
					continue
				}
				w, ok := v[k].(map[string]any)
				if !ok {
					continue
				}
				switch c := w[child].(type) {
				case map[string]any:
					if toArray && len(c) > 0 {
						w[child] = []any{c}
					}
				case []any:
					if !toArray && len(c) == 1 {
						if m, ok := c[0].(map[string]any); ok && len(m) > 0 {
							w[child] = m
						}
					}
				}
			}
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTicketValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, name string
		want       string
		wantOK     bool
	}{
		{"many_steps_many_fields.json", "Approve Access Request", "true", true},                       // approve_reject
		{"many_steps_many_fields.json", "Security Sign-off", "", true},                                // approve_reject, undecided
		{"many_steps_many_fields.json", "Risk", "Low", true},                                          // drop_down_list
		{"many_steps_many_fields.json", "Unset Choice", "", true},                                     // drop_down_list, nothing selected
		{"many_steps_many_fields.json", "Emergency", "false", true},                                   // checkbox
		{"many_steps_many_fields.json", "Audited", "true", true},                                      // checkbox
		{"many_steps_many_fields.json", "Regions", "EU", true},                                        // multiple_selection, one (object)
		{"many_steps_many_fields.json", "Zones", "DMZ, Core", true},                                   // multiple_selection, several (array)
		{"many_steps_many_fields.json", "Notes", "line one\nline two", true},                          // text_area
		{"many_steps_many_fields.json", "Change Record", "https://itsm.example.com/CHG0012345", true}, // hyperlink
		{"many_steps_many_fields.json", "Window Date", "2025-12-01", true},                            // date
		{"many_steps_many_fields.json", "Window Time", "22:30", true},                                 // time
		{"many_steps_many_fields.json", "Manager", "b.boss", true},                                    // manager
		{"many_steps_many_fields.json", "ITSM Ticket", "CHG0012345", true},                            // text_field
		{"many_steps_many_fields.json", "Group Change", "", true},                                     // complex: Raw only
		{"many_steps_many_fields.json", "Business Justification", "", false},                          // only in an earlier step
		{"many_steps_many_fields.json", "Access Request", "", false},                                  // only in an earlier step
		{"many_steps_many_fields.json", "risk", "", false},                                            // names are case-sensitive
		{"one_step_one_field.json", "Business Justification", "orders db", true},
		{"tasks_array.json", "Approve", "true", true},           // first task's field of that name
		{"tasks_array.json", "Security Reviewed", "true", true}, // second task; "true" as a string
		{"tasks_array.json", "Network Notes", "via core", true},
		{"single_task_object.json", "Devices", "fw-1", true},
		{"string_ids.json", "Devices", "fw-1", true},
		{"empty_collections.json", "Nothing Selected", "", true},
		{"empty_collections.json", "Unset Checkbox", "", true},
		{"empty_collections.json", "Undecided", "", true},
		{"empty_collections.json", "Absent Text", "", true},
		{"empty_collections.json", "nope", "", false},
	}
	tickets := map[string]Ticket{}
	for _, c := range cases {
		tk, ok := tickets[c.file]
		if !ok {
			tk = decodeTicketFile(t, c.file)
			tickets[c.file] = tk
		}
		got, ok := tk.Value(c.name)
		if got != c.want || ok != c.wantOK {
			t.Errorf("%s: Value(%q) = %q, %v; want %q, %v", c.file, c.name, got, ok, c.want, c.wantOK)
		}
		f, fok := tk.Field(c.name)
		if fok != ok || (fok && f.Name != c.name) {
			t.Errorf("%s: Field(%q) = %+v, %v; Value found %v", c.file, c.name, f, fok, ok)
		}
	}

	// The first match is the first task's field.
	tk := tickets["tasks_array.json"]
	if f, _ := tk.Field("Approve"); f.ID != "7211" || f.Reason != "network ok" {
		t.Errorf("Field(Approve) = %+v, want the first task's (7211)", f)
	}
	// No steps, no fields.
	if f, ok := (Ticket{ID: "1"}).Field("x"); ok {
		t.Errorf("Field on a ticket without steps = %+v, true", f)
	}
}

func TestTicketSteps(t *testing.T) {
	t.Parallel()
	many := decodeTicketFile(t, "many_steps_many_fields.json")
	if s, ok := many.PreviousStep(); !ok || s.ID != "2" || s.Name != "Risk Review" {
		t.Errorf("PreviousStep = %+v, %v; want step 2 Risk Review", s, ok)
	}
	if s, ok := many.StepByName("Open request"); !ok || s.ID != "1" || len(s.Tasks) != 1 || len(s.Tasks[0].Fields) != 2 {
		t.Errorf("StepByName(Open request) = %+v, %v", s, ok)
	}
	if s, ok := many.StepByName("Approval"); !ok || s.ID != "3" {
		t.Errorf("StepByName(Approval) = %+v, %v", s, ok)
	}
	if s, ok := many.StepByName("Nope"); ok {
		t.Errorf("StepByName(Nope) = %+v, true", s)
	}

	one := decodeTicketFile(t, "one_step_one_field.json")
	if s, ok := one.PreviousStep(); ok {
		t.Errorf("PreviousStep of a one-step ticket = %+v, true", s)
	}
	if s, ok := (Ticket{}).PreviousStep(); ok {
		t.Errorf("PreviousStep of no steps = %+v, true", s)
	}

	// A redone step appears twice; StepByName returns the latest.
	redo := []byte(`{"ticket":{"id":5,"steps":{"step":[
		{"id":1,"name":"Open request"},
		{"id":2,"name":"Review","tasks":{"task":{"id":21,"status":"DONE"}}},
		{"id":3,"name":"Implement","redone":true},
		{"id":2,"name":"Review","tasks":{"task":{"id":22,"status":"ASSIGNED"}}}]}}}`)
	tk, err := DecodeTicket(redo)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := tk.StepByName("Review"); !ok || len(s.Tasks) != 1 || s.Tasks[0].ID != "22" {
		t.Errorf("StepByName(Review) = %+v, %v; want the latest, with task 22", s, ok)
	}
	if s, ok := tk.PreviousStep(); !ok || s.Name != "Implement" || !s.Redone {
		t.Errorf("PreviousStep = %+v, %v; want Implement, redone", s, ok)
	}
}

func TestDecodeTicketRaw(t *testing.T) {
	t.Parallel()
	in := readTicketFile(t, "many_steps_many_fields.json")
	tk, err := DecodeTicket(in)
	if err != nil {
		t.Fatal(err)
	}

	// Ticket.Raw is the value of "ticket", byte for byte.
	start := bytes.IndexByte(in[1:], '{') + 1
	end := bytes.LastIndexByte(in, '}')
	want := bytes.TrimSpace(in[start:end])
	if !bytes.Equal(tk.Raw, want) {
		t.Errorf("Raw is not the ticket object as received:\n got %.80q...\nwant %.80q...", tk.Raw, want)
	}

	// Every field's Raw is its object, byte for byte, with the complex
	// value intact.
	n := 0
	for _, s := range tk.Steps {
		for _, task := range s.Tasks {
			for _, f := range task.Fields {
				n++
				if !bytes.Contains(in, f.Raw) || f.Raw[0] != '{' || f.Raw[len(f.Raw)-1] != '}' {
					t.Errorf("field %s: Raw %q is not an object cut from the input", f.ID, f.Raw)
				}
				var m map[string]json.RawMessage
				if err := json.Unmarshal(f.Raw, &m); err != nil {
					t.Fatalf("field %s: %v", f.ID, err)
				}
				if string(m["id"]) != f.ID {
					t.Errorf("field %s: Raw has id %s", f.ID, m["id"])
				}
			}
		}
	}
	if n != 18 {
		t.Errorf("saw %d fields, want 18", n)
	}
	ar := tk.Steps[0].Tasks[0].Fields[0]
	const wantAR = `{"@xsi.type": "multi_access_request", "id": 101, "name": "Access Request", "access_request": {"id": 5, "order": "AR1", "verifier_result": {"status": "not run"}, "use_topology": true, "targets": {"target": {"@type": "ANY", "id": 7}}, "users": {"user": ["Any"]}, "sources": {"source": {"@type": "IP", "id": 8, "ip_address": "10.0.0.1", "netmask": "255.255.255.255"}}, "destinations": {"destination": {"@type": "IP", "id": 9, "ip_address": "10.0.1.1", "netmask": "255.255.255.255"}}, "services": {"service": {"@type": "PROTOCOL", "id": 10, "protocol": "TCP", "port": 443}}, "action": "Accept", "labels": ""}}`
	if string(ar.Raw) != wantAR {
		t.Errorf("access request Raw:\n got %s\nwant %s", ar.Raw, wantAR)
	}

	// Raw does not alias the input.
	saved := bytes.Clone(tk.Raw)
	savedField := bytes.Clone(ar.Raw)
	scratch := bytes.Clone(in)
	tk2, err := DecodeTicket(scratch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range scratch {
		scratch[i] = 'x'
	}
	if !bytes.Equal(tk2.Raw, saved) || !bytes.Equal(tk2.Steps[0].Tasks[0].Fields[0].Raw, savedField) {
		t.Error("Raw changed when the input buffer was overwritten")
	}

	// The bare ticket object decodes to the same ticket, Raw included, and
	// surrounding white space is not part of Raw.
	bare, err := DecodeTicket(append(append([]byte(" \n\t"), tk.Raw...), "\r\n "...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bare, tk) {
		for _, d := range ticketDiff(bare, tk) {
			t.Errorf("bare: %s", d)
		}
	}
}

// ExampleTicket_Field shows reading a ticket, and writing a field back the
// way SecureChange wants it on PUT .../steps/{step}/tasks/{task}/fields/.
func ExampleTicket_Field() {
	in := []byte(`{"ticket": {"id": 1234, "steps": {"step": [
	  {"id": 1, "name": "Open request", "tasks": {"task": {"id": 11, "fields": {"field":
	    {"@xsi.type": "text_field", "id": 102, "name": "Business Justification", "text": "orders db"}}}}},
	  {"id": 3, "name": "Approval", "tasks": {"task": {"id": 31, "fields": {"field": [
	    {"@xsi.type": "approve_reject", "id": 301, "name": "Approve", "approved": true, "reason": "ok"},
	    {"@xsi.type": "text_field", "id": 302, "name": "ITSM Ticket", "text": ""}]}}}}]}}}`)
	tk, err := DecodeTicket(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	approved, _ := tk.Value("Approve")
	prev, _ := tk.PreviousStep()
	fmt.Println("approved:", approved, "after:", prev.Name)

	f, _ := tk.Field("ITSM Ticket")
	var field map[string]any
	if err := json.Unmarshal(f.Raw, &field); err != nil {
		fmt.Println(err)
		return
	}
	field["text"] = "CHG0012345"
	body, _ := json.Marshal(map[string]any{"fields": map[string]any{"field": []any{field}}})
	cur := tk.Steps[len(tk.Steps)-1]
	fmt.Printf("PUT /tickets/%s/steps/%s/tasks/%s/fields/ %s\n", tk.ID, cur.ID, cur.Tasks[0].ID, body)
	// Output:
	// approved: true after: Open request
	// PUT /tickets/1234/steps/3/tasks/31/fields/ {"fields":{"field":[{"@xsi.type":"text_field","id":302,"name":"ITSM Ticket","text":"CHG0012345"}]}}
}

// TestMany: a collection's child is none, one element or an array of them.
func TestMany(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []string // nil: none
	}{
		{"null", nil},
		{` null `, nil},
		{`""`, nil},
		{`{}`, nil},
		{"{ \n }", nil},
		{`[]`, nil},
		{`[ ]`, nil},
		{`{"a":1}`, []string{`{"a":1}`}},
		{`[{"a":1}]`, []string{`{"a":1}`}},
		{`[{"a":1}, {"b":2}]`, []string{`{"a":1}`, `{"b":2}`}},
		{`[{}, null, ""]`, []string{`{}`, `null`, `""`}}, // elements are not filtered
		{`"Any"`, []string{`"Any"`}},
		{`["Any", "Other"]`, []string{`"Any"`, `"Other"`}},
		{`7`, []string{`7`}},
		{`[[1]]`, []string{`[1]`}},
	}
	for _, c := range cases {
		var got many[jsontext.Value]
		if err := unmarshalJSON([]byte(c.in), &got); err != nil {
			t.Errorf("many(%q): %v", c.in, err)
			continue
		}
		var gotS []string
		for _, g := range got {
			gotS = append(gotS, string(g))
		}
		if !reflect.DeepEqual(gotS, c.want) {
			t.Errorf("many(%q) = %q, want %q", c.in, gotS, c.want)
		}
	}
	for _, bad := range []string{`{`, `[1,`, `nul`, `"x`} {
		var got many[jsontext.Value]
		if err := unmarshalJSON([]byte(bad), &got); err == nil {
			t.Errorf("many(%q) = %q, nil; want an error", bad, got)
		}
	}
}

// TestDecodeTicketLenient covers inputs that are odd but accepted.
func TestDecodeTicketLenient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		check    func(Ticket) string // "" when fine
	}{
		{"bare", `{"id": 3, "subject": "s"}`, func(tk Ticket) string {
			if tk.ID != "3" || tk.Subject != "s" || string(tk.Raw) != `{"id": 3, "subject": "s"}` {
				return fmt.Sprintf("%+v", tk)
			}
			return ""
		}},
		{"wrapper with other keys", `{"status": "ok", "ticket": {"id": "4"}}`, func(tk Ticket) string {
			if tk.ID != "4" || string(tk.Raw) != `{"id": "4"}` {
				return fmt.Sprintf("%+v", tk)
			}
			return ""
		}},
		{"scalars as text", `{"id": 5, "subject": 12, "priority": true, "requester": null}`, func(tk Ticket) string {
			if tk.Subject != "12" || tk.Priority != "true" || tk.Requester != "" {
				return fmt.Sprintf("%+v", tk)
			}
			return ""
		}},
		{"id empty string", `{"id": 6, "requester_id": "", "workflow": {"id": null, "name": "W"}}`, func(tk Ticket) string {
			if tk.RequesterID != "" || tk.Workflow != (Workflow{Name: "W"}) {
				return fmt.Sprintf("%+v", tk)
			}
			return ""
		}},
		{"leading zeros kept", `{"id": "007"}`, func(tk Ticket) string {
			if tk.ID != "007" {
				return tk.ID
			}
			return ""
		}},
		{"duplicate keys: last wins", `{"id": 1, "id": 2, "subject": "a", "subject": "b"}`, func(tk Ticket) string {
			if tk.ID != "2" || tk.Subject != "b" {
				return fmt.Sprintf("%+v", tk)
			}
			return ""
		}},
		{"keys are case-sensitive", `{"id": 1, "Subject": "x", "ID": {}}`, func(tk Ticket) string {
			if tk.Subject != "" {
				return tk.Subject
			}
			return ""
		}},
		{"unknown keys of any shape", `{"id": 1, "sla_status": {"x": [1, {"y": null}]}, "application_details": {"id": 0}}`, nil},
		{"current_step {} is none", `{"id": 1, "current_step": {}}`, func(tk Ticket) string {
			if tk.CurrentStep != nil {
				return fmt.Sprintf("%+v", tk.CurrentStep)
			}
			return ""
		}},
		{"options as bare strings and numbers", `{"id": 1, "steps": {"step": {"tasks": {"task": {"fields": {"field":
			{"@xsi.type": "multiple_selection", "name": "M", "options": {"option": ["a", 2]}, "selected_options": {"selected_option": "a"}}}}}}}}`,
			func(tk Ticket) string {
				f, _ := tk.Field("M")
				if !reflect.DeepEqual(f.Options, []string{"a", "2"}) || !reflect.DeepEqual(f.Selected, []string{"a"}) {
					return fmt.Sprintf("%+v", f)
				}
				return ""
			}},
		{"complex field: text copied when a string, ignored otherwise", `{"id": 1, "steps": {"step": {"tasks": {"task": {"fields": {"field": [
			{"@xsi.type": "multi_target", "name": "T", "text": "t", "value": {"x": 1}},
			{"@xsi.type": "clone_server_policy", "name": "C", "text": {"odd": true}, "approved": "maybe"},
			{"name": "untyped", "text": "u"}]}}}}}}`,
			func(tk Ticket) string {
				a, _ := tk.Value("T")
				b, _ := tk.Value("C")
				c, _ := tk.Value("untyped")
				if a != "t" || b != "" || c != "u" {
					return fmt.Sprintf("%q %q %q", a, b, c)
				}
				return ""
			}},
		{"checkbox value as string", `{"id": 1, "steps": {"step": {"tasks": {"task": {"fields": {"field":
			{"@xsi.type": "checkbox", "name": "X", "value": "false"}}}}}}}`,
			func(tk Ticket) string {
				f, _ := tk.Field("X")
				if f.Checked == nil || *f.Checked {
					return fmt.Sprintf("%+v", f)
				}
				return ""
			}},
		{"twenty-digit field id", `{"id": 1, "steps": {"step": {"tasks": {"task": {"fields": {"field": {"id": 12345678901234567890}}}}}}}`,
			func(tk Ticket) string {
				if id := tk.Steps[0].Tasks[0].Fields[0].ID; id != "12345678901234567890" {
					return id
				}
				return ""
			}},
		{"nineteen-digit ticket id", `{"id": 9223372036854775807}`, nil},
	}
	for _, c := range cases {
		tk, err := DecodeTicket([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.check != nil {
			if msg := c.check(tk); msg != "" {
				t.Errorf("%s: %s", c.name, msg)
			}
		}
	}
}

func TestDecodeTicketErrors(t *testing.T) {
	t.Parallel()
	// wrap puts a field into the last task of a two-step ticket whose
	// fields are an array, giving the path
	// ticket.steps.step[1].tasks.task.fields.field[0].
	wrap := func(field string) string {
		return `{"ticket": {"id": 1, "steps": {"step": [{"id": 1}, {"id": 2, "tasks": {"task": {"id": 3, "fields": {"field": [` + field + `]}}}}]}}}`
	}
	const fp = "ticket.steps.step[1].tasks.task.fields.field[0]"
	cases := []struct {
		name, in string
		want     string // the whole message
	}{
		{"empty input", ``, "ticket JSON: invalid JSON at byte 0: unexpected EOF"},
		{"white space only", " \n", "ticket JSON: invalid JSON at byte 2: unexpected EOF"},
		{"truncated", `{"ticket": {"id": 1`, "ticket JSON: invalid JSON at byte 19: unexpected EOF"},
		{"trailing garbage", `{"id": 1} x`, "ticket JSON: invalid JSON at byte 10: invalid character 'x' after top-level value"},
		{"BOM", "\xef\xbb\xbf{\"id\": 1}", "ticket JSON: invalid JSON at byte 0: invalid character '\\ufeff' at start of value"},
		{"top level array", `[{"id": 1}]`, "ticket JSON: want an object, got an array"},
		{"top level string", `"1234"`, "ticket JSON: want an object, got a string"},
		{"top level null", `null`, "ticket JSON: want an object, got null"},
		{"ticket null", `{"ticket": null}`, "ticket JSON: ticket: want an object, got null"},
		{"ticket array", `{"ticket": [{"id": 1}]}`, "ticket JSON: ticket: want an object, got an array"},
		{"no id", `{}`, "ticket JSON: ticket.id: missing"},
		{"wrapped, no id", `{"ticket": {"subject": "x"}}`, "ticket JSON: ticket.id: missing"},
		{"ticket id empty", `{"id": ""}`, "ticket JSON: ticket.id: missing"},
		{"SecureChange error body", `{"result": {"code": "WEB_APPLICATION_ERROR", "message": "Ticket 9 was not found"}}`, "ticket JSON: ticket.id: missing"},
		{"ticket id object", `{"ticket": {"id": {"$": 1}}}`, "ticket JSON: ticket.id: want a number or string, got an object"},
		{"ticket id bool", `{"id": true}`, "ticket JSON: ticket.id: want a number or string, got a boolean"},
		{"ticket id fraction", `{"id": 1.5}`, "ticket JSON: ticket.id: want a decimal id, got 1.5"},
		{"ticket id exponent", `{"id": 1e3}`, "ticket JSON: ticket.id: want a decimal id, got 1e3"},
		{"ticket id negative", `{"id": -3}`, "ticket JSON: ticket.id: want a decimal id, got -3"},
		{"ticket id letters", `{"id": "12a"}`, `ticket JSON: ticket.id: want a decimal id, got "12a"`},
		{"ticket id spaces", `{"id": " 12"}`, `ticket JSON: ticket.id: want a decimal id, got " 12"`},
		{"ticket id path traversal", `{"id": "../1"}`, `ticket JSON: ticket.id: want a decimal id, got "../1"`},
		{"ticket id too long", `{"id": 12345678901234567890}`, `ticket JSON: ticket.id: want 1 to 19 digits, got "12345678901234567890"`},
		{"subject object", `{"id": 1, "subject": {}}`, "ticket JSON: ticket.subject: want a string, got an object"},
		{"status array", `{"id": 1, "status": ["a"]}`, "ticket JSON: ticket.status: want a string, got an array"},
		{"requester_id word", `{"id": 1, "requester_id": "bob"}`, `ticket JSON: ticket.requester_id: want a decimal id, got "bob"`},
		{"workflow string", `{"id": 1, "workflow": "AR"}`, "ticket JSON: ticket.workflow: want an object, got a string"},
		{"workflow id bool", `{"id": 1, "workflow": {"id": false}}`, "ticket JSON: ticket.workflow.id: want a number or string, got a boolean"},
		{"current_step number", `{"id": 1, "current_step": 5}`, "ticket JSON: ticket.current_step: want an object, got a number"},
		{"current_step name array", `{"id": 1, "current_step": {"id": 5, "name": []}}`, "ticket JSON: ticket.current_step.name: want a string, got an array"},
		{"steps array", `{"id": 1, "steps": [{"id": 1}]}`, "ticket JSON: ticket.steps: want an object, got an array"},
		{"steps true", `{"id": 1, "steps": true}`, "ticket JSON: ticket.steps: want an object, got a boolean"},
		{"step string", `{"id": 1, "steps": {"step": "Open"}}`, "ticket JSON: ticket.steps.step: want an object, got a string"},
		{"step null element", `{"id": 1, "steps": {"step": [{"id": 1}, null]}}`, "ticket JSON: ticket.steps.step[1]: want an object, got null"},
		{"step nested array", `{"id": 1, "steps": {"step": [[{"id": 1}]]}}`, "ticket JSON: ticket.steps.step[0]: want an object, got an array"},
		{"step redone word", `{"id": 1, "steps": {"step": {"redone": "yes"}}}`, "ticket JSON: ticket.steps.step.redone: want a boolean, got a string"},
		{"step skipped number", `{"id": 1, "steps": {"step": [{}, {}, {"skipped": 0}]}}`, "ticket JSON: ticket.steps.step[2].skipped: want a boolean, got a number"},
		{"tasks array", `{"id": 1, "steps": {"step": {"tasks": [{"id": 1}]}}}`, "ticket JSON: ticket.steps.step.tasks: want an object, got an array"},
		{"task number", `{"id": 1, "steps": {"step": {"tasks": {"task": [{"id": 1}, 2]}}}}`, "ticket JSON: ticket.steps.step.tasks.task[1]: want an object, got a number"},
		{"task assignee_id object", `{"id": 1, "steps": {"step": {"tasks": {"task": {"assignee_id": {}}}}}}`, "ticket JSON: ticket.steps.step.tasks.task.assignee_id: want a number or string, got an object"},
		{"fields string", `{"id": 1, "steps": {"step": {"tasks": {"task": {"fields": "none"}}}}}`, "ticket JSON: ticket.steps.step.tasks.task.fields: want an object, got a string"},
		{"field id object (the documented example)", wrap(`{"id": {}}`), "ticket JSON: " + fp + ".id: want a number or string, got an object"},
		{"field array", wrap(`[]`), "ticket JSON: " + fp + ": want an object, got an array"},
		{"field type object", wrap(`{"@xsi.type": {"name": "text_field"}}`), "ticket JSON: " + fp + ".@xsi.type: want a string, got an object"},
		{"field name array", wrap(`{"name": ["a"]}`), "ticket JSON: " + fp + ".name: want a string, got an array"},
		{"text_field text object", wrap(`{"@xsi.type": "text_field", "text": {}}`), "ticket JSON: " + fp + ".text: want a string, got an object"},
		{"checkbox value number", wrap(`{"@xsi.type": "checkbox", "value": 1}`), "ticket JSON: " + fp + ".value: want a boolean, got a number"},
		{"checkbox value word", wrap(`{"@xsi.type": "checkbox", "value": "checked"}`), "ticket JSON: " + fp + ".value: want a boolean, got a string"},
		{"approved word", wrap(`{"@xsi.type": "approve_reject", "approved": "maybe"}`), "ticket JSON: " + fp + ".approved: want a boolean, got a string"},
		{"reason object", wrap(`{"@xsi.type": "approve_reject", "approved": true, "reason": {}}`), "ticket JSON: " + fp + ".reason: want a string, got an object"},
		{"selection array", wrap(`{"@xsi.type": "drop_down_list", "selection": ["a"]}`), "ticket JSON: " + fp + ".selection: want a string, got an array"},
		{"options array", wrap(`{"@xsi.type": "drop_down_list", "options": [{"value": "a"}]}`), "ticket JSON: " + fp + ".options: want an object, got an array"},
		{"option bool", wrap(`{"@xsi.type": "drop_down_list", "options": {"option": [{"value": "a"}, true]}}`), "ticket JSON: " + fp + ".options.option[1]: want an object or string, got a boolean"},
		{"option value object", wrap(`{"@xsi.type": "multiple_selection", "options": {"option": {"value": {}}}}`), "ticket JSON: " + fp + ".options.option.value: want a string, got an object"},
		{"selected option value array", wrap(`{"@xsi.type": "multiple_selection", "selected_options": {"selected_option": [{"value": "a"}, {"value": ["b"]}]}}`), "ticket JSON: " + fp + ".selected_options.selected_option[1].value: want a string, got an array"},
		{"comments array", `{"id": 1, "comments": [{"content": "x"}]}`, "ticket JSON: ticket.comments: want an object, got an array"},
		{"bare: path still rooted at ticket", `{"id": 1, "steps": {"step": {"tasks": {"task": {"fields": {"field": {"id": []}}}}}}}`, "ticket JSON: ticket.steps.step.tasks.task.fields.field.id: want a number or string, got an array"},
		{"first error wins", `{"id": 1, "subject": [], "status": {}}`, "ticket JSON: ticket.subject: want a string, got an array"},
	}
	for _, c := range cases {
		tk, err := DecodeTicket([]byte(c.in))
		if err == nil {
			t.Errorf("%s: no error, got %+v", c.name, tk)
			continue
		}
		if !errors.Is(err, ErrBadTicketJSON) {
			t.Errorf("%s: %v does not wrap ErrBadTicketJSON", c.name, err)
		}
		if err.Error() != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, err, c.want)
		}
		if !reflect.DeepEqual(tk, Ticket{}) {
			t.Errorf("%s: returned a ticket with the error: %+v", c.name, tk)
		}
		if strings.HasPrefix(c.want, "ticket JSON: invalid JSON") {
			if _, ok := errors.AsType[*jsontext.SyntacticError](err); !ok {
				t.Errorf("%s: %v does not wrap a *jsontext.SyntacticError", c.name, err)
			}
		}
	}
}

// TestDecodeTicketLenientComments: a comment's "user" as an array (pytos2's
// Comment.users: List[str] under key "user") or an object, and other members
// of an unexpected shape, never make a ticket undecodable (issue 11).
func TestDecodeTicketLenientComments(t *testing.T) {
	in := `{"ticket": {"id": 7, "comments": {"comment": [
	  {"content": "a", "user": ["a.jones", "b.boss"]},
	  {"content": ["x"], "user": {"name": "x"}},
	  {"content": "c", "user": [1, {}]},
	  {"content": "d", "user": "r.view"}]}}}`
	tk, err := DecodeTicket([]byte(in))
	if err != nil {
		t.Fatalf("DecodeTicket: %v", err)
	}
	c := tk.Comments
	if len(c) != 4 {
		t.Fatalf("got %d comments, want 4", len(c))
	}
	if c[0].User != "a.jones, b.boss" || !reflect.DeepEqual(c[0].Users, []string{"a.jones", "b.boss"}) {
		t.Errorf("array user: User %q Users %q", c[0].User, c[0].Users)
	}
	if c[1].User != "" || string(c[1].UserRaw) != `{"name": "x"}` || c[1].Content != "" {
		t.Errorf("object user: %+v", c[1])
	}
	if string(c[2].UserRaw) != `[1, {}]` || c[2].Content != "c" {
		t.Errorf("array of non-strings: %+v", c[2])
	}
	if c[3].User != "r.view" || c[3].Users != nil || c[3].UserRaw != nil {
		t.Errorf("string user: %+v", c[3])
	}
}

// TestDecodeTicketUnknownFieldType: a type no SDK models decodes, its value
// only in Raw; read_only is read for every type.
func TestDecodeTicketUnknownFieldType(t *testing.T) {
	in := `{"id": 8, "steps": {"step": {"tasks": {"task": {"fields": {"field": [
	  {"@xsi.type": "brand_new_type", "id": 1, "name": "N", "widget": {"a": [1, 2]}, "read_only": true},
	  {"@xsi.type": "date", "id": 2, "name": "D", "value": "2025-12-31", "text": "ignored", "read_only": "false"}]}}}}}}`
	tk, err := DecodeTicket([]byte(in))
	if err != nil {
		t.Fatalf("DecodeTicket: %v", err)
	}
	n, _ := tk.Field("N")
	if !n.ReadOnly || n.Text != "" || !strings.Contains(string(n.Raw), `"widget": {"a": [1, 2]}`) {
		t.Errorf("unknown type: %+v", n)
	}
	if _, known := LookupFieldType(n.Type); known {
		t.Errorf("LookupFieldType(%q) is known", n.Type)
	}
	d, _ := tk.Field("D")
	if d.ReadOnly || d.Value() != "2025-12-31" {
		t.Errorf("date: ReadOnly %v Value %q, want false, 2025-12-31", d.ReadOnly, d.Value())
	}
}
