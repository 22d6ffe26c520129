package events

import (
	"path/filepath"
	"testing"
)

// benchmarkTicketFiles runs decode over each realistic ticket in
// testdata/tickets.
func benchmarkTicketFiles(b *testing.B, decode func([]byte) (Ticket, error)) {
	files, err := filepath.Glob(filepath.Join("testdata", "tickets", "*.json"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no tickets in testdata/tickets: %v", err)
	}
	for _, name := range files {
		in := readTicketFile(b, filepath.Base(name))
		b.Run(filepath.Base(name), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeTicket(b *testing.B) { benchmarkTicketFiles(b, DecodeTicket) }

// BenchmarkDecodeTicketReference is the baseline: DecodeTicket before it was
// rewritten (ticket_reference_test.go).
func BenchmarkDecodeTicketReference(b *testing.B) { benchmarkTicketFiles(b, refDecodeTicket) }
