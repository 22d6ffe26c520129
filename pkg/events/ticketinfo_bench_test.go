package events_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// benchXML is the ticket_info of a real SecureChange ADVANCE trigger.
var benchXML = []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ticket_info>
    <id>1234</id>
    <subject>Allow web to db</subject>
    <createDate>1700000000000</createDate>
    <updateDate>1700000360000</updateDate>
    <current_stage><id>3</id><name>Approval</name></current_stage>
    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
    <completion_data><stage><id>2</id><name>Auto Target</name></stage></completion_data>
</ticket_info>
`)

func BenchmarkDecodeTicketInfo(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchXML)))
	for b.Loop() {
		if _, err := events.DecodeTicketInfo(benchXML); err != nil {
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
	b.ReportAllocs()
	b.SetBytes(int64(len(benchXML)))
	for b.Loop() {
		var v naiveTicketInfo
		if err := xml.Unmarshal(benchXML, &v); err != nil {
			b.Fatal(err)
		}
	}
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
