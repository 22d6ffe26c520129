package ingress_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestLeadingZerosAreTheSameTicket: ticket ids are canonical decimal, so <id>00012</id>
// is ticket 12 on the subject, headers, trigger id and stored ticket, and the same
// trigger of <id>12</id> is a duplicate of it.
func TestLeadingZerosAreTheSameTicket(t *testing.T) {
	g := startIngress(t, "", nil)
	padded := ticketXML("00012", "1763884860000")
	r := g.postMediator("CREATE", padded, "", "")
	if r.Status != 200 || !r.Reply.Stored || !strings.Contains(r.Reply.Output, "stored CREATE for ticket 12 as trigger") {
		t.Fatalf("answer: %s", r)
	}
	if r2 := g.postMediator("CREATE", ticketXML("12", "1763884860000"), "", ""); r2.Status != 200 || r2.Reply.ID != r.Reply.ID {
		t.Fatalf("<id>12</id> is another trigger (%s) than <id>00012</id> (%s)", r2.Reply.ID, r.Reply.ID)
	}
	if r3 := g.post("/v1/triggers/CREATE", "application/xml", []byte(ticketXML("012", "1763884860000"))); r3.Status != 200 || r3.Reply.ID != r.Reply.ID {
		t.Fatalf("raw <id>012</id>: %s, want trigger %s", r3, r.Reply.ID)
	}
	if n := g.msgs(); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := g.JS.Stream(ctx, events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.UnmarshalTriggerEvent(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	wantSubject := fmt.Sprintf(events.SubjTriggerStoredT, "create", events.Partition("12"), "12")
	switch {
	case ev.Ticket.ID != "12":
		t.Errorf("stored ticket id %q, want 12", ev.Ticket.ID)
	case ev.Subject() != "scw.trigger.create.12" || m.Subject != wantSubject:
		t.Errorf("subjects %s / stored %s, want scw.trigger.create.12 / %s", ev.Subject(), m.Subject, wantSubject)
	case m.Header.Get(events.HdrTicketID) != "12":
		t.Errorf("%s header %q, want 12", events.HdrTicketID, m.Header.Get(events.HdrTicketID))
	case ev.ID != r.Reply.ID || ev.ID != events.NewTriggerEvent(events.Create, ev.Ticket, nil, "", "").ID:
		t.Errorf("trigger id %s, answered %s", ev.ID, r.Reply.ID)
	case ev.RawXML != padded:
		t.Errorf("raw XML not kept as received: %q", ev.RawXML)
	}
}

// TestNestedIDsAreNotTheTicket: only <id> children of <ticket_info> are the ticket's; the
// ids of stages and other nested elements, prefixed ids, and <id> in comments, CDATA and
// attribute values do not count.
func TestNestedIDsAreNotTheTicket(t *testing.T) {
	g := startIngress(t, "", nil)
	xml := `<?xml version="1.0" encoding="UTF-8"?>
<!-- <id>1</id> -->
<ticket_info>
    <subject><![CDATA[<id>2</id>]]></subject>
    <current_stage><id>3</id><name>Approval</name></current_stage>
    <steps><step note="a > b &lt;id>"><id>4</id><tasks><task><id>5</id></task></tasks></step></steps>
    <sc:id xmlns:sc="urn:x">6</sc:id>
    <id>4321</id>
    <completion_data><stage><id>7</id></stage></completion_data>
    <empty/>
</ticket_info>
`
	r := g.postMediator("ADVANCE", xml, "", "")
	if r.Status != 200 || !r.Reply.Stored || !strings.Contains(r.Reply.Output, "for ticket 4321 ") {
		t.Fatalf("answer: %s", r)
	}
}

// TestPathsCleaned: a path that cleans to an endpoint reaches it, with no redirect (the
// seed mediator written with ENDPOINT=/trigger_file posts to //trigger_file).
func TestPathsCleaned(t *testing.T) {
	g := startIngress(t, "", nil)
	g.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for i, path := range []string{"//trigger_file", "/./trigger_file", "/../trigger_file", "/x/../trigger_file", "///trigger_file?x=1"} {
		r := g.post(path, "application/json", mediatorBody("CREATE", ticketXML(fmt.Sprint(100+i), "1"), "", ""))
		if r.Status != 200 || !r.Reply.Stored {
			t.Fatalf("%s: %s (Location %q)", path, r, r.Header.Get("Location"))
		}
	}
	if r := g.post("//v1//triggers/CLOSE", "application/xml", []byte(ticketXML("200", "1"))); r.Status != 200 || !r.Reply.Stored {
		t.Fatalf("raw: %s", r)
	}
	if n := g.msgs(); n != 6 {
		t.Fatalf("%d messages stored, want 6", n)
	}
}

// TestContentTypesAccepted: JSON (with or without a charset, +json) and no Content-Type at
// all on the mediator endpoint; XML types and none on the raw endpoint.
func TestContentTypesAccepted(t *testing.T) {
	g := startIngress(t, "", nil)
	ticket := 300
	next := func() string { ticket++; return ticketXML(fmt.Sprint(ticket), "1") }
	for _, ct := range []string{"", "application/json", "Application/JSON; charset=UTF-8", "application/vnd.triggerflow+json"} {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/trigger_file", bytes.NewReader(mediatorBody("CREATE", next(), "", "")))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if r := g.do(req); r.Status != 200 || !r.Reply.Stored {
			t.Fatalf("mediator, Content-Type %q: %s", ct, r)
		}
	}
	for _, ct := range []string{"", "application/xml", "text/xml; charset=utf-8", "application/ticket+xml"} {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/triggers/CREATE", strings.NewReader(next()))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if r := g.do(req); r.Status != 200 || !r.Reply.Stored {
			t.Fatalf("raw, Content-Type %q: %s", ct, r)
		}
	}
	if n := g.msgs(); n != 8 {
		t.Fatalf("%d messages stored, want 8", n)
	}
}
