package securechange_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// FuzzDecodeTicketInfo checks that DecodeTicketInfo never panics, is
// deterministic, only succeeds with a numeric ticket id and extras cut from
// the input, fails with exactly one sentinel, and that what it accepts makes
// a TriggerEvent that marshals. It is seeded from decodeCases, the golden
// TriggerEvents of pkg/events and testdata/fuzz/FuzzDecodeTicketInfo.
func FuzzDecodeTicketInfo(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.in))
	}
	for _, g := range goldenTriggers(f) {
		f.Add([]byte(g.RawXML))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		info, err := securechange.DecodeTicketInfo(in)
		info2, err2 := securechange.DecodeTicketInfo(in)
		if !reflect.DeepEqual(info, info2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %+v, %v then %+v, %v", info, err, info2, err2)
		}
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q matches %d sentinels", err, n)
			}
			if !strings.HasPrefix(err.Error(), "ticket_info XML: ") {
				t.Fatalf("error %q lacks the ticket_info XML prefix", err)
			}
			return
		}
		if securechange.IsTestPayload(in) {
			t.Fatalf("decoded a test payload: %+v", info)
		}
		if len(info.ID) == 0 || len(info.ID) > 19 || strings.Trim(info.ID, "0123456789") != "" {
			t.Fatalf("ID %q is not a ticket number", info.ID)
		}
		for _, x := range info.Extra {
			if !bytes.Contains(in, []byte(x.XML)) || !strings.HasPrefix(x.XML, "<"+x.Name) || !strings.HasSuffix(x.XML, ">") {
				t.Fatalf("extra %+v is not an element cut from the input", x)
			}
		}
		ev := events.NewTriggerEvent(events.Advance, info, in, "a", "b")
		b, err := ev.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := events.UnmarshalTriggerEvent(b)
		if err != nil {
			t.Fatalf("UnmarshalTriggerEvent: %v", err)
		}
		if !reflect.DeepEqual(back.Ticket, info) {
			t.Fatalf("ticket does not round-trip through JSON:\n%+v\n%+v", back.Ticket, info)
		}
	})
}
