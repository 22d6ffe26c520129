package natstest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// Wiretap counts the JetStream traffic clients send to a server: a subscription on ">"
// (which, in the clients' account, also sees $JS.API.>, $JS.ACK.> and $KV.>) that sorts
// every message a client publishes into the categories of Counts. Start one with Tap;
// read it with Snapshot and subtract an earlier snapshot to count a workload.
//
// Not counted as requests: replies (_INBOX.>), the server's deliveries to consumers
// (which reach ">" with the stored subject and a $JS.ACK reply: counted apart, as
// Deliveries), the server's own advisories ($JS.EVENT.>, counted apart), the tap's own
// connections, and every request sent with a reply subject on the connection behind
// Quiet (a test's own checks). A message published by hand on a subject no known stream
// stores is counted as Core, outside the requests.
type Wiretap struct {
	tb     testing.TB
	nc     *nats.Conn // the subscription on ">"
	quiet  *nats.Conn // Quiet's connection, and the Snapshot markers
	prefix string     // inbox prefix of quiet; also the markers' subject prefix
	sub    *nats.Subscription

	streams []streamSubjects
	trips   *trips // TapTrips; nil: not followed

	mu      sync.Mutex
	c       Counts
	marks   map[string]chan struct{}
	markSeq int
}

type streamSubjects struct {
	name     string
	subjects []string
}

// TapOption adjusts a Wiretap.
type TapOption func(*Wiretap)

// TapStream names a stream and the subjects it stores, so that publishes on them are
// counted as publishes to it. triggerflow's streams (events.Streams) are known already;
// KV buckets are recognised by their $KV.<bucket>.> subjects.
func TapStream(name string, subjects ...string) TapOption {
	return func(w *Wiretap) { w.streams = append(w.streams, streamSubjects{name, subjects}) }
}

// Tap subscribes to everything clients publish on the server at url, until tb's cleanup.
// Only what is published after Tap returns is counted.
func Tap(tb testing.TB, url string, opts ...TapOption) *Wiretap {
	tb.Helper()
	w := &Wiretap{tb: tb, prefix: "_TAPQ_" + strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix), marks: map[string]chan struct{}{}, c: newCounts()}
	for _, s := range events.Streams(events.StreamOptions{}) {
		w.streams = append(w.streams, streamSubjects{s.Name, s.Subjects})
	}
	for _, o := range opts {
		o(w)
	}
	var err error
	// NoEcho: the tap never sees what its own connection sends.
	w.nc, err = nats.Connect(url, nats.Name("natstest-tap"), nats.NoEcho())
	if err != nil {
		tb.Fatalf("natstest: tap: connect %s: %v", url, err)
	}
	tb.Cleanup(w.nc.Close)
	w.quiet, err = nats.Connect(url, nats.Name("natstest-tap-quiet"), nats.CustomInboxPrefix(w.prefix))
	if err != nil {
		tb.Fatalf("natstest: tap: connect %s: %v", url, err)
	}
	tb.Cleanup(w.quiet.Close)
	w.sub, err = w.nc.Subscribe(">", w.count)
	if err != nil {
		tb.Fatalf("natstest: tap: subscribe: %v", err)
	}
	_ = w.sub.SetPendingLimits(-1, -1) // never drop: a dropped message is a miscount
	if err := w.nc.Flush(); err != nil {
		tb.Fatalf("natstest: tap: flush: %v", err)
	}
	return w
}

// Quiet is a JetStream client on a connection whose requests the tap does not count
// (those sent with a reply subject: API requests, publishes and gets waiting for their
// answer, double acks), for a test's own checks while the tap runs. A plain Ack, which
// has no reply subject, is counted like any other client's.
func (w *Wiretap) Quiet() jetstream.JetStream {
	js, err := jetstream.New(w.quiet)
	if err != nil {
		w.tb.Fatalf("natstest: tap: jetstream: %v", err)
	}
	return js
}

// Snapshot returns the counts so far. It first sends a marker through the server and
// waits for the tap to receive it, so everything the server received before the call
// (e.g. a publish whose ack came back, or anything before a flushed connection's PONG)
// is counted.
func (w *Wiretap) Snapshot() Counts {
	w.tb.Helper()
	w.mu.Lock()
	w.markSeq++
	subject := w.prefix + ".mark." + strconv.Itoa(w.markSeq)
	seen := make(chan struct{})
	w.marks[subject] = seen
	w.mu.Unlock()
	if err := w.quiet.Publish(subject, nil); err != nil {
		w.tb.Fatalf("natstest: tap: marker: %v", err)
	}
	if err := w.quiet.Flush(); err != nil {
		w.tb.Fatalf("natstest: tap: marker: %v", err)
	}
	select {
	case <-seen:
	case <-time.After(30 * time.Second):
		w.tb.Fatalf("natstest: tap: marker not seen in 30s")
	}
	if n, err := w.sub.Dropped(); err != nil || n > 0 {
		w.tb.Fatalf("natstest: tap: %d messages dropped (%v): the counts are wrong", n, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c.clone()
}

// count sorts one message; it runs on the subscription's goroutine.
func (w *Wiretap) count(m *nats.Msg) {
	s := m.Subject
	if strings.HasPrefix(s, w.prefix) {
		w.mu.Lock()
		if ch, ok := w.marks[s]; ok {
			close(ch)
			delete(w.marks, s)
		}
		w.mu.Unlock()
		return
	}
	if strings.HasPrefix(m.Reply, w.prefix) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.trips != nil && w.trips.see(m, w.stream) {
		return
	}
	if strings.HasPrefix(s, "_INBOX.") {
		return
	}
	c := &w.c
	if strings.HasPrefix(m.Reply, "$JS.ACK.") {
		// A consumer's delivery: sent to the consumer's inbox, it reaches ">" with the
		// stored subject and the ack subject as its reply.
		c.Deliveries[ackStream(m.Reply)]++
		return
	}
	switch {
	case strings.HasPrefix(s, "$JS.EVENT."):
		c.Advisories++
	case strings.HasPrefix(s, "$JS.ACK."):
		c.Acks[ackKind(m.Data)]++
		c.AcksByStream[ackStream(s)]++
		if m.Reply != "" {
			c.AcksConfirmed++
		}
	case strings.HasPrefix(s, "$JS.FC."):
		c.API["FC (flow control)"]++
	case strings.HasPrefix(s, "$JS.API.DIRECT.GET."):
		c.DirectGets[token(s, 4)]++
	case strings.HasPrefix(s, "$JS.API.CONSUMER.MSG.NEXT."):
		c.Pulls[token(s, 5)]++
	case strings.HasPrefix(s, "$JS.API."):
		c.API[apiOp(s)]++
	case strings.HasPrefix(s, "$KV."):
		c.KV[token(s, 1)]++
	default:
		if st := w.stream(s); st != "" {
			c.Streams[st]++
			return
		}
		c.Core++
	}
}

// stream is the stream that stores subject, or "".
func (w *Wiretap) stream(subject string) string {
	for _, st := range w.streams {
		for _, p := range st.subjects {
			if SubjectMatch(p, subject) {
				return st.name
			}
		}
	}
	return ""
}

// Trips is what TapTrips followed since Tap; it needs the TapTrips option. Like Snapshot,
// it first waits for everything the server received before the call.
func (w *Wiretap) Trips() Trips {
	w.tb.Helper()
	if w.trips == nil {
		w.tb.Fatalf("natstest: tap: Trips without the TapTrips option")
	}
	w.Snapshot()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.trips.snapshot()
}

func token(subject string, i int) string {
	t := strings.Split(subject, ".")
	if i < len(t) {
		return t[i]
	}
	return "?"
}

// ackKind reads an ack body: "" and +ACK are acks, the others start with their kind
// (-NAK {"delay":…}, +TERM reason, +NXT {…}).
func ackKind(body []byte) string {
	b := strings.TrimSpace(string(body))
	if b == "" {
		return "+ACK"
	}
	for _, k := range []string{"+ACK", "-NAK", "+WPI", "+TERM", "+NXT"} {
		if strings.HasPrefix(b, k) {
			return k
		}
	}
	return "other"
}

// ackStream is the stream of an ack subject: $JS.ACK.<stream>.<consumer>.<7 numbers>
// (v1, 9 tokens) or $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.… (v2).
func ackStream(subject string) string {
	t := strings.Split(subject, ".")
	switch {
	case len(t) == 9:
		return t[2]
	case len(t) >= 11:
		return t[4]
	}
	return "?"
}

// apiKeywords are the tokens of JetStream API subjects that name the operation (the
// others name a stream, consumer or filter).
var apiKeywords = map[string]bool{
	"INFO": true, "STREAM": true, "CONSUMER": true, "CREATE": true, "UPDATE": true, "DELETE": true,
	"PURGE": true, "NAMES": true, "LIST": true, "MSG": true, "GET": true, "DURABLE": true, "NEXT": true,
	"SNAPSHOT": true, "RESTORE": true, "PEER": true, "REMOVE": true, "LEADER": true, "STEPDOWN": true,
	"ACCOUNT": true, "PAUSE": true, "UNPIN": true, "SERVER": true, "META": true, "MOVE": true, "CANCEL_MOVE": true,
}

// apiOp is the operation of a $JS.API subject: $JS.API.STREAM.INFO.SCW_OPS → STREAM.INFO.
func apiOp(subject string) string {
	t := strings.Split(strings.TrimPrefix(subject, "$JS.API."), ".")
	n := 0
	for n < len(t) && apiKeywords[t[n]] {
		n++
	}
	if n == 0 {
		return t[0]
	}
	return strings.Join(t[:n], ".")
}

// Counts is what clients sent to JetStream, by category; every map is keyed by name and
// holds no zero.
//
// Requests (Counts.Requests) are the messages a client sends that the server must act
// on, each one once however many replies it gets:
//
//   - stream publishes (Streams: js.Publish on a subject a stream stores, by stream;
//     a publish the stream drops as a duplicate still counts),
//   - KV writes (KV: put, create, update, delete, purge on $KV.<bucket>.>, by bucket),
//   - direct gets (DirectGets: $JS.API.DIRECT.GET.<stream>, e.g. KV_scw_done for a KV get),
//   - acks of every kind (Acks: +ACK, -NAK, +WPI in-progress, +TERM, +NXT, by kind),
//   - every other JetStream API request (API: $JS.API.<OP>… by operation, e.g.
//     STREAM.INFO, CONSUMER.INFO, STREAM.MSG.GET; and $JS.FC flow-control replies).
//
// Pull requests ($JS.API.CONSUMER.MSG.NEXT, Pulls, by stream) are listed apart and not
// in Requests: a pull asks for a batch and waits, so their number depends on batch sizes
// and idle expiries, not on the messages. Deliveries (messages consumers delivered),
// Core (publishes no stream stores) and Advisories (the server's own $JS.EVENT
// messages) are not requests either.
type Counts struct {
	Streams      map[string]int
	KV           map[string]int
	DirectGets   map[string]int
	Acks         map[string]int
	AcksByStream map[string]int // the same acks, by the stream of the acked message
	// AcksConfirmed: acks sent with a reply subject (DoubleAck, AckSync), of Acks.
	AcksConfirmed int
	API           map[string]int
	Pulls         map[string]int
	// Deliveries are the messages consumers delivered (to pull requests, or to push and
	// ordered consumers such as KV watchers), by stream: the server's traffic, not requests.
	Deliveries map[string]int
	Core       int
	Advisories int
}

func newCounts() Counts {
	return Counts{Streams: map[string]int{}, KV: map[string]int{}, DirectGets: map[string]int{},
		Acks: map[string]int{}, AcksByStream: map[string]int{}, API: map[string]int{}, Pulls: map[string]int{},
		Deliveries: map[string]int{}}
}

func (c Counts) clone() Counts {
	return Counts{Streams: maps.Clone(c.Streams), KV: maps.Clone(c.KV), DirectGets: maps.Clone(c.DirectGets),
		Acks: maps.Clone(c.Acks), AcksByStream: maps.Clone(c.AcksByStream), AcksConfirmed: c.AcksConfirmed,
		API: maps.Clone(c.API), Pulls: maps.Clone(c.Pulls), Deliveries: maps.Clone(c.Deliveries),
		Core: c.Core, Advisories: c.Advisories}
}

func subMap(a, b map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok && v != 0 {
			out[k] = -v
		}
	}
	return out
}

// Sub returns c minus before: what was sent between two snapshots.
func (c Counts) Sub(before Counts) Counts {
	return Counts{Streams: subMap(c.Streams, before.Streams), KV: subMap(c.KV, before.KV),
		DirectGets: subMap(c.DirectGets, before.DirectGets), Acks: subMap(c.Acks, before.Acks),
		AcksByStream: subMap(c.AcksByStream, before.AcksByStream), AcksConfirmed: c.AcksConfirmed - before.AcksConfirmed,
		API: subMap(c.API, before.API), Pulls: subMap(c.Pulls, before.Pulls),
		Deliveries: subMap(c.Deliveries, before.Deliveries), Core: c.Core - before.Core, Advisories: c.Advisories - before.Advisories}
}

func sum[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// StreamPublishes, KVWrites, Gets, AckCount, APIRequests and PullRequests are the totals
// of the categories.
func (c Counts) StreamPublishes() int { return sum(c.Streams) }
func (c Counts) KVWrites() int        { return sum(c.KV) }
func (c Counts) Gets() int            { return sum(c.DirectGets) }
func (c Counts) AckCount() int        { return sum(c.Acks) }
func (c Counts) APIRequests() int     { return sum(c.API) }
func (c Counts) PullRequests() int    { return sum(c.Pulls) }

// Requests is the number of requests: stream publishes + KV writes + direct gets + acks +
// other API requests (see Counts). Pull requests are not in it.
func (c Counts) Requests() int {
	return c.StreamPublishes() + c.KVWrites() + c.Gets() + c.AckCount() + c.APIRequests()
}

// String is a table of the counts.
func (c Counts) String() string { return c.table(func(n int) string { return strconv.Itoa(n) }) }

// Per is the table with every count divided by n (e.g. per trigger), two decimals.
func (c Counts) Per(n int) string {
	return c.table(func(v int) string { return strconv.FormatFloat(float64(v)/float64(max(n, 1)), 'f', 2, 64) })
}

func (c Counts) table(f func(int) string) string {
	var b strings.Builder
	line := func(indent int, name string, v int) {
		fmt.Fprintf(&b, "%-*s%-*s %8s\n", indent, "", 40-indent, name, f(v))
	}
	group := func(name string, m map[string]int) {
		line(2, name, sum(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			line(6, k, m[k])
		}
	}
	line(0, "requests", c.Requests())
	group("stream publishes", c.Streams)
	group("KV writes", c.KV)
	group("direct gets", c.DirectGets)
	group("acks", c.Acks)
	if len(c.AcksByStream) > 0 {
		fmt.Fprintf(&b, "      (by stream:")
		for _, k := range slices.Sorted(maps.Keys(c.AcksByStream)) {
			fmt.Fprintf(&b, " %s %s", k, f(c.AcksByStream[k]))
		}
		fmt.Fprintf(&b, "; confirmed %s)\n", f(c.AcksConfirmed))
	}
	group("other API requests", c.API)
	b.WriteString("not in requests:\n")
	group("pull requests", c.Pulls)
	group("deliveries (server → consumers)", c.Deliveries)
	line(2, "core publishes (no stream)", c.Core)
	line(2, "server advisories", c.Advisories)
	return b.String()
}
