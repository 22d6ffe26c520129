package securechange_test

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// accessEntrySeeds are the entries of the table tests (TestCreateTicket,
// TestCreateTicketErrors) and their edges.
var accessEntrySeeds = []string{
	"10.0.0.0/24", "10.0.0.1", "10.0.0.1-10.0.0.9", "Any", "any", "tcp 443", "udp 53", "https",
	"2001:db8::/32", "::1", "10.0.0.300", "10.0.0.5/24", "tcp 70000", "tcp", "TCP  22", "udp -1",
	"10.0.0.9-10.0.0.1", "10.0.0.1-::1", "fe80::1%eth0", "::ffff:10.0.0.1", "0.0.0.0/0", "", " ", "-", "/",
	"MS SQL", "a\x00b", "\xff",
}

// FuzzParseAccessEntry checks that the access-request entry parsers never panic; that
// what they accept marshals to JSON with a known "@type"; and that an accepted address
// object holds a canonical address. Seeded from accessEntrySeeds (and
// testdata/fuzz/FuzzParseAccessEntry).
func FuzzParseAccessEntry(f *testing.F) {
	for _, s := range accessEntrySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if o, err := securechange.ParseAccessTarget(in); err == nil {
			if _, err := json.Marshal(o); err != nil {
				t.Fatalf("target %q: %v", in, err)
			}
			switch o["@type"] {
			case "ANY":
			case "IP":
				if a, err := netip.ParseAddr(o["ip_address"].(string)); err != nil || a.String() != o["ip_address"] {
					t.Fatalf("target %q: ip_address %v", in, o["ip_address"])
				}
			case "RANGE":
				a, err1 := netip.ParseAddr(o["range_first_ip"].(string))
				b, err2 := netip.ParseAddr(o["range_last_ip"].(string))
				if err1 != nil || err2 != nil || b.Less(a) {
					t.Fatalf("target %q: range %v", in, o)
				}
			default:
				t.Fatalf("target %q: @type %v", in, o["@type"])
			}
		} else if o != nil {
			t.Fatalf("target %q: object %v with error %v", in, o, err)
		}
		if o, err := securechange.ParseAccessService(in); err == nil {
			if _, err := json.Marshal(o); err != nil {
				t.Fatalf("service %q: %v", in, err)
			}
			switch o["@type"] {
			case "ANY", "PROTOCOL", "PREDEFINED":
			default:
				t.Fatalf("service %q: @type %v", in, o["@type"])
			}
		} else if o != nil {
			t.Fatalf("service %q: object %v with error %v", in, o, err)
		}
	})
}
