package ingress

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// refRootIDs is rootIDs on encoding/xml, for the fuzzer to compare against.
func refRootIDs(in []byte) int {
	dec := xml.NewDecoder(bytes.NewReader(in))
	depth, n := 0, 0
	for {
		tok, err := dec.RawToken()
		if err != nil {
			return n
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 1 && tok.Name.Space == "" && tok.Name.Local == "id" {
				n++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

// FuzzRootIDs: on every ticket_info securechange.DecodeTicketInfo accepts, rootIDs counts the
// ticket's own <id> elements as encoding/xml reads them.
func FuzzRootIDs(f *testing.F) {
	tickets, _ := filepath.Glob("../../examples/tickets/*.xml")
	for _, p := range tickets {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"<ticket_info><id>700043</id><id>999999</id></ticket_info>",
		"<ticket_info><id/><current_stage><id>3</id></current_stage><id>7</id></ticket_info>",
		"<!-- <id>1</id> --><ticket_info><subject><![CDATA[<id>2</id>]]></subject><x a='>' b=\"/\"><id>4</id></x><p:id xmlns:p=\"u\">5</p:id><id >6</id></ticket_info>",
		"<?xml version=\"1.0\"?><?pi <id>?><ticket_info><id\n>1</id\n><id\t/></ticket_info>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := securechange.DecodeTicketInfo(in); err != nil {
			return
		}
		if got, want := rootIDs(in), refRootIDs(in); got != want {
			t.Fatalf("rootIDs(%q) = %d, encoding/xml counts %d", in, got, want)
		}
	})
}
