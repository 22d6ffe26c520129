package securechange_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// The benchmarks decode the example ADVANCE ticket_info, which the ingress
// benchmark posts: DecodeTicketInfo, xml.Unmarshal as a naive handler would
// use it, and encoding/xml's tokenizer alone.

func benchAdvance(b *testing.B) []byte {
	in, err := os.ReadFile(filepath.Join("..", "..", "examples", "tickets", "advance.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	return in
}

func BenchmarkDecodeTicketInfo(b *testing.B) {
	in := benchAdvance(b)
	for b.Loop() {
		if _, err := securechange.DecodeTicketInfo(in); err != nil {
			b.Fatal(err)
		}
	}
}

// naiveTicketInfo is what a handler using xml.Unmarshal would decode into.
type naiveTicketInfo struct {
	XMLName      xml.Name `xml:"ticket_info"`
	ID           string   `xml:"id"`
	Subject      string   `xml:"subject"`
	CreateDate   string   `xml:"createDate"`
	UpdateDate   string   `xml:"updateDate"`
	CurrentStage *struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"current_stage"`
	OpenRequestStage *struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"open_request_stage"`
	CompletionData *struct {
		Stage *struct {
			ID   string `xml:"id"`
			Name string `xml:"name"`
		} `xml:"stage"`
	} `xml:"completion_data"`
	Extra []struct {
		XMLName xml.Name
		Inner   string `xml:",innerxml"`
	} `xml:",any"`
}

func BenchmarkXMLUnmarshalNaive(b *testing.B) {
	in := benchAdvance(b)
	for b.Loop() {
		var v naiveTicketInfo
		if err := xml.Unmarshal(in, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkXMLRawTokenFloor is encoding/xml's RawToken loop alone, doing
// nothing with the tokens: the floor under BenchmarkDecodeTicketInfo. Nearly
// all its allocations are encoding/xml's (each token boxed in the Token
// interface, each element name a new string).
func BenchmarkXMLRawTokenFloor(b *testing.B) {
	in := benchAdvance(b)
	for b.Loop() {
		d := xml.NewDecoder(bytes.NewReader(in))
		for {
			if _, err := d.RawToken(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
