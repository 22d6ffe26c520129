package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// FuzzDecodeTicket checks that DecodeTicket never panics and is
// deterministic; that its errors wrap ErrBadTicketJSON and carry the
// "ticket JSON: " prefix; and that what it accepts has a ticket number,
// Raw values cut from the input, decodes the same from its Raw, and
// answers the accessors consistently. It is seeded from testdata/tickets
// (and testdata/fuzz/FuzzDecodeTicket).
func FuzzDecodeTicket(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "tickets", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/tickets")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tk, err := events.DecodeTicket(in)
		tk2, err2 := events.DecodeTicket(in)
		if !reflect.DeepEqual(tk, tk2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %+v, %v then %+v, %v", tk, err, tk2, err2)
		}
		if err != nil {
			if !errors.Is(err, events.ErrBadTicketJSON) {
				t.Fatalf("error %q does not wrap ErrBadTicketJSON", err)
			}
			if !strings.HasPrefix(err.Error(), "ticket JSON: ") {
				t.Fatalf("error %q lacks the ticket JSON prefix", err)
			}
			if !reflect.DeepEqual(tk, events.Ticket{}) {
				t.Fatalf("ticket returned with error %q: %+v", err, tk)
			}
			return
		}
		if len(tk.ID) == 0 || len(tk.ID) > 19 || strings.Trim(tk.ID, "0123456789") != "" {
			t.Fatalf("ID %q is not a ticket number", tk.ID)
		}
		if !json.Valid(tk.Raw) || tk.Raw[0] != '{' || !bytes.Contains(in, tk.Raw) {
			t.Fatalf("Raw %q is not an object cut from the input", tk.Raw)
		}
		for _, s := range tk.Steps {
			for _, task := range s.Tasks {
				for _, fl := range task.Fields {
					if !json.Valid(fl.Raw) || fl.Raw[0] != '{' || !bytes.Contains(tk.Raw, fl.Raw) {
						t.Fatalf("field Raw %q is not an object cut from the ticket", fl.Raw)
					}
				}
			}
		}

		// The ticket decodes the same from its Raw, wrapped.
		again, err := events.DecodeTicket([]byte(`{"ticket":` + string(tk.Raw) + `}`))
		if err != nil {
			t.Fatalf("re-decoding Raw: %v", err)
		}
		if !reflect.DeepEqual(again, tk) {
			t.Fatalf("Raw decodes differently:\n%+v\n%+v", again, tk)
		}

		// Accessors: no panics, and Value agrees with Field.
		names := []string{""}
		if len(tk.Steps) > 0 {
			for _, task := range tk.Steps[len(tk.Steps)-1].Tasks {
				for _, fl := range task.Fields {
					names = append(names, fl.Name)
				}
			}
		}
		for _, name := range names {
			fl, fok := tk.Field(name)
			_, vok := tk.Value(name)
			if fok != vok || (fok && fl.Name != name) {
				t.Fatalf("Field(%q) = %+v, %v but Value found %v", name, fl, fok, vok)
			}
		}
		if len(names) > 1 {
			if _, ok := tk.Field(names[1]); !ok {
				t.Fatalf("Field(%q) not found in the latest step", names[1])
			}
		}
		prev, ok := tk.PreviousStep()
		if ok != (len(tk.Steps) >= 2) {
			t.Fatalf("PreviousStep ok = %v with %d steps", ok, len(tk.Steps))
		}
		if ok {
			if s, found := tk.StepByName(prev.Name); !found || s.Name != prev.Name {
				t.Fatalf("StepByName(%q) = %+v, %v", prev.Name, s, found)
			}
		}
	})
}
