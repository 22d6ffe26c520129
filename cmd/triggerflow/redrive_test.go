package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestRedriveBulk: 100 creates the ITSM server refuses (400) are dead-lettered. Without a
// filter redrive refuses; --dry-run lists the 100 and changes nothing; once the server
// is fixed, `redrive --all` delivers each exactly once (counted at the server) and
// records it in scw_redrives; a second redrive does nothing and says so; two concurrent
// redrives of one dead letter store one message.
func TestRedriveBulk(t *testing.T) {
	const n = 100
	var mu sync.Mutex
	fixed := false
	delivered := map[string]int{} // ticket -> creates accepted
	p := startOpsPipeline(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Ticket string `json:"u_ticket"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		defer mu.Unlock()
		if !fixed {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Invalid assignment group"}}`)
			return
		}
		delivered[body.Ticket]++
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"result":{"sys_id":"s-`+body.Ticket+`"}}`)
	}, false)
	for i := range n {
		p.trigger(t, "CREATE", strconv.Itoa(5000+i), "1763884800000")
	}
	dlqs := func() int { return len(natstest.Msgs(t, p.JS, events.StreamDLQ, "scw.dlq.itsm-sync.*")) }
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if got := dlqs(); got != n {
			return fmt.Errorf("%d dead letters, want %d", got, n)
		}
		return nil
	})
	ops := func() uint64 { return natstest.StreamMsgs(t, p.JS, events.StreamOps) }
	kv, err := p.JS.KeyValue(context.Background(), events.BucketRedrives)
	if err != nil {
		t.Fatalf("itsm-sync provisions %s: %v", events.BucketRedrives, err)
	}
	records := func() int {
		st, err := kv.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return int(st.Values())
	}
	opsBefore := ops()

	// No filter: refused.
	if code, out, errOut := runCLI("redrive", "--server", p.NATS); code != 2 || out != "" || !strings.Contains(errOut, "--all") {
		t.Fatalf("redrive without a filter: %d %q %q", code, out, errOut)
	}

	// --dry-run: lists them, changes nothing.
	mu.Lock()
	fixed = true
	mu.Unlock()
	code, out, errOut := runCLI("redrive", "--server", p.NATS, "--all", "--dry-run")
	if code != 0 || strings.Count(out, "would-redrive") != n || !strings.Contains(errOut, "100 would be redriven (dry run") {
		t.Fatalf("dry run: %d\n%s%s", code, out, errOut)
	}
	if got := ops(); got != opsBefore || records() != 0 {
		t.Fatalf("dry run changed something: %d operations (was %d), %d records", got, opsBefore, records())
	}

	// The redrive: each delivered once, recorded.
	code, out, errOut = runCLI("redrive", "--server", p.NATS, "--all", "--json")
	if code != 0 {
		t.Fatalf("redrive: %d\n%s%s", code, out, errOut)
	}
	var lines []redriveLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rl redriveLine
		if err := json.Unmarshal([]byte(l), &rl); err != nil {
			t.Fatalf("redrive --json line %q: %v", l, err)
		}
		if rl.Outcome != "redriven" || rl.MsgID != events.RedriveMsgID(rl.DLQSeq, 1) || !strings.HasPrefix(rl.Subject, "scw.op.itsm.snow.") {
			t.Fatalf("redrive line: %+v", rl)
		}
		lines = append(lines, rl)
	}
	if len(lines) != n || !strings.Contains(errOut, "redrive: handled 100 in ") || !strings.Contains(errOut, "redrive: 100 redriven") {
		t.Fatalf("%d lines; stderr:\n%s", len(lines), errOut)
	}
	p.waitResults(t, "*", events.ResultSucceeded, n)
	mu.Lock()
	if len(delivered) != n {
		t.Errorf("%d tickets delivered, want %d", len(delivered), n)
	}
	for ticket, c := range delivered {
		if c != 1 {
			t.Errorf("ticket %s delivered %d times", ticket, c)
		}
	}
	mu.Unlock()
	if got := records(); got != n {
		t.Fatalf("%d records in %s, want %d", got, events.BucketRedrives, n)
	}
	en, err := kv.Get(context.Background(), events.RedriveKey(lines[0].DLQSeq))
	if err != nil {
		t.Fatal(err)
	}
	var rec events.Redrive
	if err := json.Unmarshal(en.Value(), &rec); err != nil || rec.Subject != lines[0].Subject || rec.MsgID != lines[0].MsgID ||
		rec.Seq == 0 || rec.By == "" || rec.Count != 1 || !strings.Contains(rec.Error, "400") {
		t.Fatalf("record: %+v %v", rec, err)
	}

	// The republished message: the operation's headers, not the dead letter's.
	var redriven *jetstream.RawStreamMsg
	for _, m := range natstest.Msgs(t, p.JS, events.StreamOps, lines[0].Subject) {
		if m.Header.Get(nats.MsgIdHdr) == lines[0].MsgID {
			redriven = m
		}
	}
	if redriven == nil || redriven.Sequence != lines[0].Seq || redriven.Header.Get(events.HdrTicketID) != lines[0].Ticket ||
		redriven.Header.Get(events.HdrTriggerID) == "" {
		t.Fatalf("redriven message: %+v", redriven)
	}
	for _, h := range []string{events.HdrError, events.HdrService, events.HdrOriginalSubject, events.HdrAttempt, events.HdrSkip} {
		if v := redriven.Header.Get(h); v != "" {
			t.Errorf("redriven message has %s: %q", h, v)
		}
	}

	// A second redrive does nothing, and says so.
	opsAfter := ops()
	code, out, errOut = runCLI("redrive", "--server", p.NATS, "--all")
	if code != 0 || strings.Count(out, "already-redriven") != n || !strings.Contains(errOut, "nothing to redrive: 100 already redriven") {
		t.Fatalf("second redrive: %d\n%s%s", code, out, errOut)
	}
	if got := ops(); got != opsAfter {
		t.Fatalf("second redrive published %d operations", got-opsAfter)
	}

	// Two redrives of a new dead letter at once: one message, one delivery; one of them
	// reports the other's.
	mu.Lock()
	fixed = false
	mu.Unlock()
	p.trigger(t, "CREATE", "6000", "1763884800000")
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if got := dlqs(); got != n+1 {
			return fmt.Errorf("%d dead letters, want %d", got, n+1)
		}
		return nil
	})
	mu.Lock()
	fixed = true
	mu.Unlock()
	opsAfter = ops()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, outs[i], _ = runCLI("redrive", "--server", p.NATS, "--ticket", "6000")
		}()
	}
	wg.Wait()
	both := outs[0] + outs[1]
	if strings.Count(both, "\nredriven ")+btoi(strings.HasPrefix(both, "redriven ")) != 1 || strings.Count(both, "already-redriven") != 1 {
		t.Fatalf("concurrent redrives:\n%s", both)
	}
	if got := ops(); got != opsAfter+1 {
		t.Fatalf("two concurrent redrives stored %d messages, want 1", got-opsAfter)
	}
	p.waitResults(t, "6000", events.ResultSucceeded, 1)
	if got := records(); got != n+1 {
		t.Fatalf("%d records, want %d", got, n+1)
	}
	mu.Lock()
	defer mu.Unlock()
	if delivered["6000"] != 1 {
		t.Fatalf("ticket 6000 delivered %d times", delivered["6000"])
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRedriveSkip: a create refused once is dead-lettered and parks the ticket's next
// create; `redrive --skip` skips it (a skipped result, no call) and the parked one goes
// out.
func TestRedriveSkip(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	p := startOpsPipeline(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Invalid assignment group"}}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"result":{"sys_id":"s-7000"}}`)
	}, false)
	p.trigger(t, "CREATE", "7000", "1763884800000")
	p.waitResults(t, "7000", events.ResultFailed, 1)
	p.trigger(t, "CREATE", "7000", "1763884860000")
	p.waitResults(t, "7000", events.ResultParked, 1)
	// trace shows the held lane and what waits in it.
	_, text, _ := runCLI("trace", "--server", p.NATS, "7000")
	for _, want := range []string{`scw_parked\s+lane\s+snow\.7000\s+held`, `SCW_PARKED\s+parked\s+itsm snow open-change/create\s+parked`, `SCW_DLQ\s+dlq`} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("trace 7000 lacks %q:\n%s", want, text)
		}
	}
	code, out, errOut := runCLI("redrive", "--server", p.NATS, "--ticket", "7000", "--skip", "--json")
	if code != 0 || strings.Count(out, `"outcome":"redriven"`) != 1 {
		t.Fatalf("redrive --skip: %d\n%s%s", code, out, errOut)
	}
	p.waitResults(t, "7000", events.ResultSkipped, 1)
	p.waitResults(t, "7000", events.ResultSucceeded, 1)
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Fatalf("the server got %d calls, want 2 (the refused create and the released one)", calls)
	}
	kv, err := p.JS.KeyValue(context.Background(), events.BucketRedrives)
	if err != nil {
		t.Fatal(err)
	}
	var rl redriveLine
	if err := json.Unmarshal([]byte(out), &rl); err != nil {
		t.Fatal(err)
	}
	en, err := kv.Get(context.Background(), events.RedriveKey(rl.DLQSeq))
	if err != nil {
		t.Fatal(err)
	}
	var rec events.Redrive
	if err := json.Unmarshal(en.Value(), &rec); err != nil || !rec.Skip {
		t.Fatalf("record: %+v %v", rec, err)
	}
}
