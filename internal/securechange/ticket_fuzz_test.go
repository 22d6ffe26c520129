package securechange_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// ticketQuirkSeeds are hand-made inputs for the SecureChange quirks:
// one-or-many collections, the empty forms, numbers as strings, wrappers,
// duplicate and escaped keys, unicode escapes and odd ids.
var ticketQuirkSeeds = []string{
	`{"id":1}`,
	` {"ticket" : {"id" : "2"} } `,
	`{"ticket":null}`,
	`{"ticket":""}`,
	`{"ticket":{}}`,
	`{"ticket":[{"id":1}]}`,
	`{"ticket":{"ticket":{"id":1}}}`,
	`{"ticket":{"id":1},"ticket":{"id":2}}`,
	`{"id":1,"id":2,"ti\u0063ket":{"\u0069d":"3"}}`,
	`{"id":"00012345678901234567"}`,
	`{"id":9223372036854775807}`,
	`{"id":18446744073709551616}`,
	`{"id":-1}`, `{"id":1.0}`, `{"id":true}`, `{"id":"1 "}`, `{"id":"\u0031"}`,
	`{"id":1,"subject":"caf\u00e9 \ud83d\ude00 \ud800x \udc00 \ud800\u0041","requester":12.5e3,"priority":true,"status":null}`,
	`{"id":1,"subject":{}}`, `{"id":1,"requester":[]}`, `{"id":1,"requester_id":"x"}`,
	`{"id":1,"workflow":"","current_step":{}}`, `{"id":1,"workflow":[],"current_step":7}`,
	`{"id":1,"workflow":{"id":"2","name":3},"current_step":{"id":4,"name":"\"x\""}}`,
	`{"id":1,"steps":null,"comments":""}`, `{"id":1,"steps":[],"comments":[]}`,
	`{"id":1,"steps":{"step":null}}`, `{"id":1,"steps":{"step":""}}`, `{"id":1,"steps":{"step":{}}}`,
	`{"id":1,"steps":{"step":[]}}`, `{"id":1,"steps":{"step":[{}]}}`, `{"id":1,"steps":{"step":[null]}}`,
	`{"id":1,"steps":{"step":"x"}}`, `{"id":1,"steps":{"step":[1,2]}}`,
	`{"id":1,"steps":{"step":{"id":1,"redone":"true","skipped":"false"}}}`,
	`{"id":1,"steps":{"step":{"redone":1}}}`, `{"id":1,"steps":{"step":{"skipped":"yes"}}}`,
	`{"id":1,"steps":{"step":{"tasks":{"task":[{"id":1},{"id":"x"}]}}}}`,
	`{"id":1,"steps":{"step":[{"tasks":{"task":{"fields":{"field":[{"@xsi.type":"checkbox","value":"false"},{"@xsi.type":"checkbox","value":"maybe"}]}}}}]}}`,
	`{"id":1,"steps":{"step":{"tasks":{"task":{"fields":{"field":{"@xsi.type":"drop_down_list","options":{"option":[{"value":1},"b",2,null]}}}}}}}}`,
	`{"id":1,"steps":{"step":{"tasks":{"task":{"fields":{"field":{"@xsi.type":"multiple_selection","options":{"option":true},"selected_options":{"selected_option":[{"value":"a"},{"value":"b"}]}}}}}}}}`,
	`{"id":1,"steps":{"step":{"tasks":{"task":{"fields":{"field":{"@xsi.type":"approve_reject","approved":"","reason":null}}}}}}}`,
	`{"id":1,"steps":{"step":{"tasks":{"task":{"fields":{"field":{"@xsi.type":"other","text":"t\u00e9\n","name":"n"}}}}}}}`,
	`{"id":1,"steps":{"step":{"tasks":{"task":{"fields":{"field":{"@xsi.type":"other","text":1}}}}}}}`,
	`{"id":1,"steps":{"step":{"tasks":{"task":{"fields":{"field":{"@xsi.ty\u0070e":"text_field","text":"a","text":"b"}}}}}}}`,
	`{"id":1,"comments":{"comment":[{"content":"a\\b\/c","user":1},{"created":false}]}}`,
	`{"id":1,"comments":{"comment":{"content":["x"]}}}`,
	"{\"id\":1,\"subject\":\"\xff\xc3\"}",
	"{\"id\":1,\"s\xffubject\":\"x\",\"subject\":\"\xe2\x82\"}",
	`{"result":{"code":"WEB_APPLICATION_ERROR"}}`,
	`[]`, `null`, `""`, `7`, ``, ` `, `{`, `{"id":1}x`, `{"id":1,}`, `{"id":01}`,
}

// FuzzDecodeTicket checks that DecodeTicket never panics and is
// deterministic; that its errors wrap ErrBadTicketJSON and carry the
// "ticket JSON: " prefix; and that what it accepts has a ticket number,
// Raw values cut from the input, decodes the same from its Raw, and
// answers the accessors consistently. It is seeded from testdata/tickets,
// ticketQuirkSeeds (and testdata/fuzz/FuzzDecodeTicket).
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
	for _, s := range ticketQuirkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tk, err := securechange.DecodeTicket(in)
		tk2, err2 := securechange.DecodeTicket(in)
		if !reflect.DeepEqual(tk, tk2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %+v, %v then %+v, %v", tk, err, tk2, err2)
		}
		if err != nil {
			if !errors.Is(err, securechange.ErrBadTicketJSON) {
				t.Fatalf("error %q does not wrap ErrBadTicketJSON", err)
			}
			if !strings.HasPrefix(err.Error(), "ticket JSON: ") {
				t.Fatalf("error %q lacks the ticket JSON prefix", err)
			}
			if !reflect.DeepEqual(tk, securechange.Ticket{}) {
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
		again, err := securechange.DecodeTicket([]byte(`{"ticket":` + string(tk.Raw) + `}`))
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
