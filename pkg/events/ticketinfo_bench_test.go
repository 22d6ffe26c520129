package events

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The benchmarks decode RealTicketXML or the example ADVANCE ticket:
// DecodeTicketInfo (which takes the fast path), the full decoder alone,
// xml.Unmarshal as a naive handler would use it, and encoding/xml's
// tokenizer alone.

// benchXML is the ticket_info of a real SecureChange ADVANCE trigger.
var benchXML = []byte(RealTicketXML)

func BenchmarkDecodeTicketInfo(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchXML)))
	for b.Loop() {
		if _, err := DecodeTicketInfo(benchXML); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAdvance(b *testing.B) []byte {
	in, err := os.ReadFile(filepath.Join("..", "..", "examples", "tickets", "advance.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	return in
}

func BenchmarkDecodeTicketInfoFast(b *testing.B) {
	in := benchAdvance(b)
	for b.Loop() {
		if _, err := DecodeTicketInfo(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTicketInfoFull(b *testing.B) {
	in := benchAdvance(b)
	for b.Loop() {
		if _, err := decodeTicketInfoFull(in); err != nil {
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

func benchXMLUnmarshalNaive(b *testing.B, in []byte) {
	for b.Loop() {
		var v naiveTicketInfo
		if err := xml.Unmarshal(in, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXMLUnmarshalNaive(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchXML)))
	benchXMLUnmarshalNaive(b, benchXML)
}

func BenchmarkXMLUnmarshalNaiveAdvance(b *testing.B) {
	benchXMLUnmarshalNaive(b, benchAdvance(b))
}

// BenchmarkXMLRawTokenFloor is encoding/xml's RawToken loop alone, doing
// nothing with the tokens: the floor under BenchmarkDecodeTicketInfo. Nearly
// all its allocations are encoding/xml's (each token boxed in the Token
// interface, each element name a new string).
func BenchmarkXMLRawTokenFloor(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchXML)))
	for b.Loop() {
		d := xml.NewDecoder(bytes.NewReader(benchXML))
		for {
			if _, err := d.RawToken(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
