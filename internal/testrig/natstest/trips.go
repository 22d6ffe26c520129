package natstest

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// TapTrips has the tap also follow each trigger's requests that wait for an answer, and
// count the round trips they take (Wiretap.Trips). A request belongs to a trigger when it
// is
//
//   - a stream publish with a reply subject (js.Publish, PublishAsync) and the trigger's
//     Scw-Trigger-Id header (events.HdrTriggerID), or
//   - a direct get ($JS.API.DIRECT.GET.<stream>) whose last_by_subj or multi_last names a
//     result subject (scw.result.<kind>.<status>.<ticket>.<operation id>) of an operation
//     published before with Scw-Trigger-Id (its Nats-Msg-Id is the operation id).
//
// A request starts a new round trip unless the trigger's previous request is still
// waiting for its answer: a publish sent after the answer to the one before it takes a
// round trip of its own, one sent before joins it. The first request after a delivery of
// a message with the trigger's Scw-Trigger-Id (a handler starting) always starts one.
// Requests without the header (a KV put, a client's set-up) are not followed.
//
// It also checks the order of each ack ($JS.ACK) of a delivered message that carries
// Scw-Trigger-Id: every request of the trigger sent after that delivery and before the
// trigger's next delivery (its handler's requests) must have its answer before the ack
// (a handler acks only what it has stored). An ack sent earlier is counted in
// Trips.EarlyAcks. This takes the requests after a delivery to be its handler's, as when
// each step of a trigger has one message in hand at a time.
//
// The order is the order the tap receives messages in: the server sends a request's
// answer to the requester and to the tap together, so a request sent in response to an
// answer always reaches the tap after it. A request sent before an answer can reach the
// server after it too (the connection wrote it apart), so the count is an upper bound.
func TapTrips() TapOption { return func(w *Wiretap) { w.trips = newTrips() } }

// Trips is what TapTrips followed since the tap started.
type Trips struct {
	// Rounds counts the triggers by their number of round trips: Rounds[4] = 280 is 280
	// triggers whose followed requests took four round trips.
	Rounds map[int]int
	// EarlyAcks are acks sent before an answer they should have waited for (see TapTrips).
	EarlyAcks int
	// Unanswered are followed requests that have had no answer yet.
	Unanswered int
}

// Triggers is the number of triggers followed.
func (t Trips) Triggers() int { return sum(t.Rounds) }

// Mean is the mean number of round trips per trigger.
func (t Trips) Mean() float64 {
	n, total := 0, 0
	for r, k := range t.Rounds {
		n += k
		total += r * k
	}
	if n == 0 {
		return 0
	}
	return float64(total) / float64(n)
}

type trips struct {
	ops     map[string]string       // operation id → trigger
	acks    map[string]string       // a delivery's ack subject → its trigger
	waiting map[string]*tripRequest // reply subject → the request waiting on it
	logs    map[string]*tripLog     // by trigger
	early   int
}

type tripRequest struct{ answered bool }

type tripLog struct {
	rounds   int
	last     *tripRequest              // the trigger's latest request
	delivery string                    // the ack subject of its latest delivery
	since    map[string][]*tripRequest // by a delivery's ack subject: the requests sent after it and before the next
}

func newTrips() *trips {
	return &trips{ops: map[string]string{}, acks: map[string]string{}, waiting: map[string]*tripRequest{}, logs: map[string]*tripLog{}}
}

// see follows m, with stream naming the stream a subject is stored in ("" for none); it
// reports whether m was the answer to a followed request (and so nothing else to count).
func (t *trips) see(m *nats.Msg, stream func(subject string) string) bool {
	s := m.Subject
	if r, ok := t.waiting[s]; ok {
		r.answered = true
		delete(t.waiting, s)
		return true
	}
	trigger := ""
	if m.Header != nil {
		trigger = m.Header.Get(events.HdrTriggerID)
	}
	switch {
	case strings.HasPrefix(m.Reply, "$JS.ACK."): // a delivery
		if trigger != "" {
			t.acks[m.Reply] = trigger
			l := t.log(trigger)
			l.last = nil // a handler's first request is a round trip of its own
			l.delivery = m.Reply
		}
	case strings.HasPrefix(s, "$JS.ACK."):
		if tr, ok := t.acks[s]; ok {
			delete(t.acks, s)
			l := t.log(tr)
			for _, r := range l.since[s] {
				if !r.answered {
					t.early++
					break
				}
			}
			delete(l.since, s)
		}
	case strings.HasPrefix(s, "$JS.API.DIRECT.GET."):
		if tr := t.ops[resultOperation(m.Data)]; tr != "" && m.Reply != "" {
			t.request(tr, m.Reply)
		}
	case trigger != "" && m.Reply != "":
		st := stream(s)
		if st == "" {
			return false
		}
		if st == events.StreamOps {
			t.ops[m.Header.Get(nats.MsgIdHdr)] = trigger
		}
		t.request(trigger, m.Reply)
	}
	return false
}

func (t *trips) log(trigger string) *tripLog {
	l := t.logs[trigger]
	if l == nil {
		l = &tripLog{since: map[string][]*tripRequest{}}
		t.logs[trigger] = l
	}
	return l
}

func (t *trips) request(trigger, reply string) {
	l := t.log(trigger)
	if l.last == nil || l.last.answered {
		l.rounds++
	}
	r := &tripRequest{}
	l.last = r
	if l.delivery != "" {
		l.since[l.delivery] = append(l.since[l.delivery], r)
	}
	t.waiting[reply] = r
}

// resultOperation is the operation id of the first result subject a direct get request
// names, or "".
func resultOperation(body []byte) string {
	var req struct {
		Last  string   `json:"last_by_subj"`
		Multi []string `json:"multi_last"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	for _, s := range append([]string{req.Last}, req.Multi...) {
		if SubjectMatch(events.SubjResults, s) {
			return token(s, 5) // scw.result.<kind>.<status>.<ticket>.<operation id>
		}
	}
	return ""
}

func (t *trips) snapshot() Trips {
	out := Trips{Rounds: map[int]int{}, EarlyAcks: t.early, Unanswered: len(t.waiting)}
	for _, l := range t.logs {
		if l.rounds > 0 {
			out.Rounds[l.rounds]++
		}
	}
	return out
}
