package securechange

import (
	"path/filepath"
	"testing"
)

// BenchmarkDecodeTicket decodes each realistic ticket in testdata/tickets.
func BenchmarkDecodeTicket(b *testing.B) {
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
				if _, err := DecodeTicket(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
