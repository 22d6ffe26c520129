package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of trace (testdata/trace_*.golden)")

// TestTraceGolden records a real workload of ticket 4711 (a create; an advance whose
// work note fails once with 503 and is retried; an advance the server refuses with 400,
// dead-lettered and alerted, which parks the next advance; the cause fixed and the dead letter
// redriven with `triggerflow redrive`, which releases the parked one), then renders
// `triggerflow trace 4711` as text and as --json. Times, latencies, hosts and the ITSM's
// address are normalised; ids are deterministic (derived from the triggers). -update
// rewrites testdata/trace_4711.golden and testdata/trace_4711.json.golden.
func TestTraceGolden(t *testing.T) {
	var mu sync.Mutex
	patches, refuse := 0, true
	p := startOpsPipeline(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"result":{"sys_id":"c0ffee"}}`)
		case r.Method == http.MethodPatch && bytes.Contains(b, []byte("(1763884860000)")) && patches == 0:
			patches++
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"message":"try later"}}`)
		case r.Method == http.MethodPatch && bytes.Contains(b, []byte("(1763884920000)")) && refuse:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Invalid work note"}}`)
		default:
			_, _ = io.WriteString(w, `{"result":{"sys_id":"c0ffee"}}`)
		}
	}, true)
	const ticket = "4711"
	p.trigger(t, "CREATE", ticket, "1763884800000")
	p.waitResults(t, ticket, events.ResultSucceeded, 1)
	p.trigger(t, "ADVANCE", ticket, "1763884860000") // 503, then 200
	p.waitResults(t, ticket, events.ResultSucceeded, 2)
	p.trigger(t, "ADVANCE", ticket, "1763884920000") // 400: dead-lettered
	p.waitResults(t, ticket, events.ResultFailed, 1)
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if n := len(natstest.Msgs(t, p.JS, events.StreamDLQ, "scw.dlq.*."+ticket)); n != 1 {
			return fmt.Errorf("%d dead letters", n)
		}
		return nil
	})
	p.Mail.WaitMessages(t, 1, time.Minute)                                // the alert
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error { // and its done marker
		kv, err := p.JS.KeyValue(context.Background(), events.BucketDone)
		if err != nil {
			return err
		}
		keys, err := kv.ListKeysFiltered(context.Background(), "alert.>")
		if err != nil {
			return err
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		if n != 1 {
			return fmt.Errorf("%d alert markers", n)
		}
		return nil
	})
	p.trigger(t, "ADVANCE", ticket, "1763884980000") // parked behind it
	p.waitResults(t, ticket, events.ResultParked, 1)

	mu.Lock()
	refuse = false
	mu.Unlock()
	if code, out, errOut := runCLI("redrive", "--server", p.NATS, "--ticket", ticket); code != 0 {
		t.Fatalf("redrive: %d\n%s%s", code, out, errOut)
	}
	p.waitResults(t, ticket, events.ResultSucceeded, 4) // the redriven one and the released one

	code, text, errOut := runCLI("trace", "--server", p.NATS, ticket)
	if code != 0 {
		t.Fatalf("trace: %d\n%s%s", code, text, errOut)
	}
	t.Logf("triggerflow trace %s:\n%s", ticket, text)
	code, js, errOut := runCLI("trace", ticket, "--server", p.NATS, "--json") // flags after the ticket too
	if code != 0 {
		t.Fatalf("trace --json: %d\n%s%s", code, js, errOut)
	}
	var entries []traceEntry
	dec := json.NewDecoder(strings.NewReader(js))
	for dec.More() {
		var e traceEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("trace --json: %v\n%s", err, js)
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 || strings.Count(text, "\n") != len(entries)+2 {
		t.Fatalf("text has %d lines for %d JSON entries:\n%s", strings.Count(text, "\n"), len(entries), text)
	}
	for _, want := range []string{"redrive", "dlq", "parked", "attempt", "503", "400"} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}

	// Normalised: entry i is at t0 + i seconds (the order is what matters), latencies 0,
	// the ITSM's address and the operator's host fixed, trace ids numbered.
	// The correlation value is written while the pipeline goes on (its time varies
	// against the entries around it): it is moved to the end.
	var corr []traceEntry
	entries = slices.DeleteFunc(entries, func(e traceEntry) bool {
		if e.Kind == "correlation" {
			corr = append(corr, e)
		}
		return e.Kind == "correlation"
	})
	entries = append(entries, corr...)
	// The alert (caused by the failed result) and the dead letter are concurrent too: the
	// dead letter goes first.
	for i := 0; i+1 < len(entries); i++ {
		if entries[i].Kind == "alert" && entries[i+1].Kind == "dlq" {
			entries[i], entries[i+1] = entries[i+1], entries[i]
		}
	}
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	traceIDs := map[string]string{}
	for i := range entries {
		e := &entries[i]
		e.Time = t0.Add(time.Duration(i) * time.Second)
		e.LatencyMS = 0
		e.Error = normalise(e.Error, p.ITSM.URL)
		e.Detail = normalise(e.Detail, p.ITSM.URL)
		if e.TraceID != "" {
			if traceIDs[e.TraceID] == "" {
				traceIDs[e.TraceID] = fmt.Sprintf("trace-%d", len(traceIDs)+1)
			}
			e.TraceID = traceIDs[e.TraceID]
		}
	}
	var gotText bytes.Buffer
	renderTrace(&gotText, ticket, entries, false)
	var gotJSON bytes.Buffer
	for _, e := range entries {
		if err := printJSON(&gotJSON, e); err != nil {
			t.Fatal(err)
		}
	}
	checkGolden(t, filepath.Join("testdata", "trace_4711.golden"), gotText.Bytes())
	checkGolden(t, filepath.Join("testdata", "trace_4711.json.golden"), gotJSON.Bytes())

	// --since: a time after everything finds nothing; an hour back finds it all.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if code, out, errOut := runCLI("trace", "--server", p.NATS, "--since", future, ticket); code != 1 || out != "" ||
		!strings.Contains(errOut, "no entries for ticket 4711 in ") || !strings.Contains(errOut, "since "+future) {
		t.Fatalf("--since %s: %d %q %q", future, code, out, errOut)
	}
	if code, out, _ := runCLI("trace", "--server", p.NATS, "--since", "1h", "--json", ticket); code != 0 || strings.Count(out, "\n") != len(entries) {
		t.Fatalf("--since 1h: %d, %d entries, want %d", code, strings.Count(out, "\n"), len(entries))
	}

	// In colour, the dead letter and the errors are red.
	var col bytes.Buffer
	renderTrace(&col, ticket, entries, true)
	for _, l := range strings.Split(col.String(), "\n") {
		if strings.Contains(l, "dead-lettered") && !strings.Contains(l, ansiRed+"dead-lettered"+ansiReset) {
			t.Fatalf("dead letter not in red: %q", l)
		}
	}

	// An unknown ticket: a clear message, exit 1.
	code, out, errOut := runCLI("trace", "--server", p.NATS, "9999")
	if code != 1 || out != "" || !strings.Contains(errOut, "no entries for ticket 9999 in SCW_TRIGGERS, SCW_INBOUND, SCW_PLANS") {
		t.Fatalf("unknown ticket: %d %q %q", code, out, errOut)
	}
}

var reOperator = regexp.MustCompile(`by [^ ,;)]+@[^ ,;)]+`)

// normalise replaces what varies between runs in a text.
func normalise(s, itsmURL string) string {
	s = strings.ReplaceAll(s, itsmURL, "http://itsm.test")
	return reOperator.ReplaceAllString(s, "by operator@host")
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestOpsHelpers: the small parsers and formats of trace and redrive.
func TestOpsHelpers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"2h":                   now.Add(-2 * time.Hour),
		"2026-12-04T10:00:00Z": time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
		"2026-12-04":           time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-2h", "0s"} {
		if _, err := parseSince(bad, now); err == nil || !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseSince(%q): %v", bad, err)
		}
	}
	for d, want := range map[time.Duration]string{
		0: "+0.000s", 1234 * time.Millisecond: "+1.234s", 2*time.Minute + 3400*time.Millisecond: "+2m03.4s",
		time.Hour + 2*time.Minute + 3*time.Second: "+1h02m03s", 76 * time.Hour: "+3d04h",
	} {
		if got := relTime(d); got != want {
			t.Errorf("relTime(%v) = %q, want %q", d, got, want)
		}
	}
	if got := traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("traceID = %q", got)
	}
	if got := traceID("garbage"); got != "" {
		t.Errorf("traceID(garbage) = %q", got)
	}
	for _, bad := range []string{"", "a.b", "4711 ", "*", ">"} {
		if checkToken("ticket", bad) == nil {
			t.Errorf("checkToken(%q) accepted it", bad)
		}
	}
	// Attempts not counted against retry.attempts are told apart (as the runner counts).
	as := []events.Attempt{{Error: "500"}, {Lookup: true}, {Error: "500"}, {Lookup: true, Error: "502"}, {Error: "cut", Unknown: true}, {Error: "down", Outage: true}, {}}
	if got, want := attemptsNote(as), "7 attempt(s): 3 counted against retry.attempts, 2 lookup(s), 1 cut off, 1 while the server was down"; got != want {
		t.Errorf("attemptsNote = %q, want %q", got, want)
	}
	if got := attemptsNote([]events.Attempt{{Error: "500"}, {}}); got != "2 attempt(s)" {
		t.Errorf("attemptsNote without lookups = %q", got)
	}
	// A callback's id is its server's name and a hash: the hash tells callbacks apart.
	for in, want := range map[string]string{"webhook-1a2b3c4d5e6f708192a3b4c5d6e7f809": "1a2b3c4d", "5bdadb0a11223344": "5bdadb0a", "redrive-12": "redrive-", "abc": "abc"} {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
	// A ticket as the ingress keys it: "01001" is ticket 1001; a callback's record key
	// stays as it is.
	for in, want := range map[string]string{"1001": "1001", "01001": "1001", "rec-NET-12": "rec-NET-12"} {
		if got, err := ticketArg("ticket", in); err != nil || got != want {
			t.Errorf("ticketArg(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"0": `ticket: "0" is not a ticket number`, "12345678901234567890": "want 1 to 19 digits", "a.b": "one subject token"} {
		if _, err := ticketArg("ticket", in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ticketArg(%q): %v; want an error with %q", in, err, want)
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	j := fs.Bool("json", false, "")
	pos, code, done := parseInterspersed(fs, []string{"a", "--json", "b", "--", "--c"}, func(io.Writer) {}, io.Discard, io.Discard)
	if done || code != 0 || !*j || strings.Join(pos, " ") != "a b --c" {
		t.Errorf("parseInterspersed: %q %d %v json=%v", pos, code, done, *j)
	}
	if got := dlqFilter("", "4711"); got != "scw.dlq.*.4711" {
		t.Errorf("dlqFilter = %q", got)
	}
	var b bytes.Buffer
	printRedriveLine(&b, redriveLine{DLQSeq: 1, Ticket: "4711", Service: "itsm-sync", Subject: "scw.op.itsm.snow.2.4711", Outcome: "redriven", MsgID: "redrive-1"})
	if want := "redriven         SCW_DLQ #1      itsm-sync  ticket 4711     -> scw.op.itsm.snow.2.4711 as redrive-1\n"; b.String() != want {
		t.Errorf("redrive line %q, want %q (as in the README)", b.String(), want)
	}
	if got := redriveSummary(map[string]int{"already-redriven": 3}); !strings.HasPrefix(got, "nothing to redrive: 3 already redriven") {
		t.Errorf("summary %q", got)
	}
}

// TestOpsCommandsOnAnEmptyServer: on a server without triggerflow's streams, trace and
// redrive say so and exit 1; bad arguments exit 2.
func TestOpsCommandsOnAnEmptyServer(t *testing.T) {
	t.Parallel()
	url := natstest.RunJetStream(t).ClientURL()
	if code, out, errOut := runCLI("trace", "--server", url, "4711"); code != 1 || out != "" || !strings.Contains(errOut, "no stream or bucket of triggerflow on") {
		t.Errorf("trace: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI("redrive", "--server", url, "--all", "--dry-run"); code != 1 || !strings.Contains(errOut, "stream SCW_DLQ") {
		t.Errorf("redrive: %d %q", code, errOut)
	}
	for _, args := range [][]string{{"trace"}, {"trace", "a", "b"}, {"trace", "47.11"}, {"trace", "--since", "soon", "1"}, {"redrive", "--ticket", "a.b"}, {"redrive", "x"}} {
		if code, _, errOut := runCLI(append(args, "--server", url)...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, %q", args, code, errOut)
		}
	}
	// itsm-sync's dead letters are under its own name: a near miss is named, not searched.
	if code, _, errOut := runCLI("redrive", "--server", url, "--service", "itsm", "--all"); code != 2 || !strings.Contains(errOut, `--service "itsm": not a service that dead-letters; one of dispatcher, itsm-sync, notifier`) {
		t.Errorf("redrive --service itsm: exit %d, %q", code, errOut)
	}
}

// A plan and its operation are published in one batch to two streams: the operation may
// be stored a moment before the plan, and the trace still shows the plan first; an
// operation stored later (a redrive) keeps its place.
func TestTraceOrdersPlanBeforeItsOperations(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c := newTraceCollector("1", time.Time{})
	c.emit(traceEntry{Time: t0.Add(3 * time.Second), Kind: "op", TriggerID: "t1", ID: "redriven"})
	c.emit(traceEntry{Time: t0.Add(time.Millisecond), Kind: "op", TriggerID: "t1", ID: "op"})
	c.emit(traceEntry{Time: t0.Add(2 * time.Millisecond), Kind: "plan", TriggerID: "t1", ID: "plan"})
	c.emit(traceEntry{Time: t0, Kind: "trigger", TriggerID: "t1", ID: "trigger"})
	c.finish()
	var got []string
	for _, e := range c.res.Entries {
		got = append(got, e.ID)
	}
	if strings.Join(got, " ") != "trigger plan op redriven" {
		t.Fatalf("order %v", got)
	}
}
