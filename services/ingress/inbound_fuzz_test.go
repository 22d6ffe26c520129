package ingress_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/services/ingress"
)

// callbackCases seed FuzzDecodeCallback (the corpus in testdata/fuzz/FuzzDecodeCallback
// holds more): the bodies of TestInboundStored and TestInboundBadInput.
var callbackCases = []string{
	`{"event_id":"e-1","ticket":"1234","record":{"sys_id":"abc123"},"state":"approved"}`,
	`{"event_id":7,"record":{"sys_id":"CHG 1"}}`,
	`{"issue":{"key":"NET-12"},"transition":"Done"}`,
	"{\n  \"anything\": [1, 2]\n}",
	`{"issue": `,
	`[{"issue":{"key":"A-1"}}]`,
	`{"issue":{"key":"A-1"},"issue":{"key":"A-2"}}`,
	`{"event_id":"e","ticket":"12a"}`,
	`{"event_id":[1],"ticket":"1"}`,
	`{"event_id":null,"ticket":null,"record":{"sys_id":null}}`,
	"{\"record\":{\"sys_id\":\"caf\xe9\"}}",
}

// FuzzDecodeCallback checks that DecodeCallback never panics, fails only with a 400
// *ingress.InputError that says something, and returns only what a callback may name:
// a ticket of digits, a record of at most 256 bytes, values that are not blank.
func FuzzDecodeCallback(f *testing.F) {
	for _, c := range callbackCases {
		f.Add([]byte(c), "event_id", "ticket", "record.sys_id")
	}
	f.Add([]byte(`{"a":{"b":[1,{"c":"x"}]}}`), "a.b.1.c", "a.b.0", "a.b.#")
	f.Fuzz(func(t *testing.T, body []byte, id, ticket, record string) {
		cb, err := ingress.DecodeCallback(body, ingress.CallbackPaths{ID: id, Ticket: ticket, Record: record})
		if err != nil {
			var ie *ingress.InputError
			if !errors.As(err, &ie) || ie.Msg == "" || ie.Status != 400 {
				t.Fatalf("DecodeCallback(%q) error = %#v, want a 400 *ingress.InputError with a message", body, err)
			}
			return
		}
		if cb.Ticket != "" && (strings.Trim(cb.Ticket, "0123456789") != "" || cb.Ticket[0] == '0') {
			t.Fatalf("DecodeCallback(%q): ticket %q is not a canonical ticket number", body, cb.Ticket)
		}
		if len(cb.Record) > 256 {
			t.Fatalf("DecodeCallback(%q): record of %d bytes", body, len(cb.Record))
		}
		for _, v := range []string{cb.ID, cb.Ticket, cb.Record} {
			if v != "" && strings.TrimSpace(v) == "" {
				t.Fatalf("DecodeCallback(%q): a blank value in %+v", body, cb)
			}
		}
		if (id == "" && cb.ID != "") || (ticket == "" && cb.Ticket != "") || (record == "" && cb.Record != "") {
			t.Fatalf("DecodeCallback(%q): a value without a path: %+v", body, cb)
		}
	})
}
