package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// postCounter is an ITSM server that counts the POSTs per ticket ({"t":"<ticket>"}).
type postCounter struct {
	mu  sync.Mutex
	per map[string]int
	all int
}

func newPostCounter(t *testing.T) (*postCounter, *httptest.Server) {
	c := &postCounter{per: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ T string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		c.mu.Lock()
		c.per[body.T]++
		c.all++
		c.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"result":{"sys_id":"abc"}}`)
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *postCounter) counts(ticket string) (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.per[ticket], c.all
}

// subjectCount is how many messages of stream match filter (the server counts).
func subjectCount(t *testing.T, js jetstream.JetStream, stream, filter string) int {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

func waitSubjectCount(t *testing.T, js jetstream.JetStream, stream, filter string, want int) {
	t.Helper()
	natstest.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
		if n := subjectCount(t, js, stream, filter); n != want {
			return fmt.Errorf("%s %s: %d messages, want %d", stream, filter, n, want)
		}
		return nil
	})
}

// cli runs the built triggerflow binary (an operator command) and returns its exit code,
// stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(triggerflowBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// replayTrigger is trigger n of ticket (distinct UpdateDates: distinct triggers).
func replayTrigger(ticket string, n int) events.TriggerEvent {
	ev := events.NewTriggerEvent(events.Advance, events.TicketInfo{ID: ticket, Subject: "s", UpdateDate: fmt.Sprint(1764000000000 + n)}, []byte("<ticket_info/>"), "", "")
	ev.ReceivedAt, ev.Ingress = time.Now().UTC(), "e2e"
	return ev
}

// TestReplayE2E: 1 000 stored triggers whose operations are done, on a real nats-server
// with `triggerflow all`. `replay --since` (after 10 earlier triggers) plans each of them
// once more and sends nothing again (a skipped result each, no POST), with progress and
// without touching the dispatcher's consumers; `--dry-run` lists and publishes nothing;
// `--force --ticket T` sends exactly T's operations again, their results forced, leaving
// out the copies of the first replay; `resend` performs one done operation once more,
// forced.
func TestReplayE2E(t *testing.T) {
	ns := natstest.StartProcess(t)
	posts, itsm := newPostCounter(t)
	addr := freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "triggerflow.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`nats: {url: %q}
ingress: {listen: %q}
log: {level: warn}
servers:
  snow: {base_url: %q}
routes:
  - name: note
    actions:
      - name: post
        itsm: {server: snow, method: POST, path: /api/now/table/x, body: '{"t":"#ticket_id#"}'}
`, ns.URL(), addr, itsm.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	startTriggerflowArgs(t, []string{"all", "--config", cfg, "--dev"}, addr)
	nc := natstest.Connect(t, ns.URL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	const tickets, perTicket = 100, 10
	var early, evs []events.TriggerEvent
	for i := range 10 {
		early = append(early, replayTrigger("4999", i))
	}
	for i := range tickets * perTicket {
		evs = append(evs, replayTrigger(fmt.Sprint(5000+i%tickets), i))
	}
	natstest.PublishTriggers(t, nc, early...)
	st, err := js.Stream(t.Context(), events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.GetMsg(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	since := last.Time.Add(time.Nanosecond).Format(time.RFC3339Nano)
	natstest.PublishTriggers(t, nc, evs...)
	waitSubjectCount(t, js, events.StreamResults, "scw.result.itsm.succeeded.>", 1010)
	if _, all := posts.counts(""); all != 1010 {
		t.Fatalf("%d POSTs before the replay, want 1010", all)
	}

	t.Run("dry-run", func(t *testing.T) {
		// A dry run lists the ticket's triggers and publishes nothing.
		code, out, errOut := cli(t, "replay", "--server", ns.URL(), "--since", since, "--ticket", "5007", "--dry-run")
		if code != 0 || strings.Count(out, "\tscw.trigger.advance.5007\t") != perTicket || !strings.Contains(out, "would republish 10 trigger(s)") {
			t.Fatalf("replay --dry-run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if n := natstest.StreamMsgs(t, js, events.StreamTriggers); n != 1010 {
			t.Fatalf("a dry run stored triggers: %d", n)
		}
	})
	t.Run("since", func(t *testing.T) {
		start := time.Now()
		code, out, errOut := cli(t, "replay", "--server", ns.URL(), "--since", since, "--id", "first")
		if code != 0 || !strings.Contains(out, "replay first: republished 1000 trigger(s) of scw.trigger.*.*.*") ||
			!strings.Contains(errOut, "read 1000 of 1000 (100%)") {
			t.Fatalf("replay: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		waitSubjectCount(t, js, events.StreamResults, "scw.result.itsm.skipped.>", 1000)
		t.Logf("1000 triggers replayed and their operations skipped in %s", time.Since(start).Round(time.Millisecond))
		if _, all := posts.counts(""); all != 1010 {
			t.Fatalf("the replay sent operations again: %d POSTs, want 1010", all)
		}
		plans := map[string]int{}
		for _, m := range natstest.Msgs(t, js, events.StreamPlans, "") {
			p, err := events.UnmarshalPlan(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			plans[p.TriggerID]++
		}
		for _, ev := range early {
			if plans[ev.ID] != 1 {
				t.Fatalf("trigger %s stored before --since planned %d times", ev.ID, plans[ev.ID])
			}
		}
		for _, ev := range evs {
			if plans[ev.ID] != 2 {
				t.Fatalf("trigger %s planned %d times, want 2 (once replayed)", ev.ID, plans[ev.ID])
			}
		}
		skipped := natstest.Msgs(t, js, events.StreamResults, "scw.result.itsm.skipped.5003.*")
		if len(skipped) != perTicket {
			t.Fatalf("%d skipped results of ticket 5003, want %d", len(skipped), perTicket)
		}
		if r, _ := events.UnmarshalResult(skipped[0].Data); r.Reason != "already done; replayed without --force" || r.Forced {
			t.Fatalf("skipped result: %s", skipped[0].Data)
		}
		for p := range events.Partitions { // the dispatcher's durable lanes are where they were
			c, err := js.Consumer(t.Context(), events.StreamTriggers, fmt.Sprintf("dispatcher-plan_trigger-p%02d", p))
			if err != nil {
				t.Fatal(err)
			}
			if ci, err := c.Info(t.Context()); err != nil || ci.NumPending != 0 || ci.NumAckPending != 0 {
				t.Fatalf("lane %d after the replay: %+v %v", p, ci, err)
			}
		}
		// The same replay id again stores nothing twice.
		if code, out, errOut := cli(t, "replay", "--server", ns.URL(), "--since", since, "--ticket", "5001", "--id", "first"); code != 0 ||
			!strings.Contains(out, "(10 already stored by this replay id)") {
			t.Fatalf("replay again: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
	})
	t.Run("force-ticket", func(t *testing.T) {
		// Forced, one ticket: exactly its operations are sent again, their results forced.
		code, out, errOut := cli(t, "replay", "--server", ns.URL(), "--since", since, "--ticket", "5007", "--force", "--json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var sum struct {
			Replayed int  `json:"replayed"`
			Copies   int  `json:"earlier_copies"`
			Force    bool `json:"force"`
		}
		if code != 0 || len(lines) != perTicket+1 || json.Unmarshal([]byte(lines[len(lines)-1]), &sum) != nil ||
			sum.Replayed != perTicket || sum.Copies != perTicket || !sum.Force || !strings.Contains(lines[0], `"subject":"scw.trigger.advance.5007"`) {
			t.Fatalf("replay --force --ticket: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		waitSubjectCount(t, js, events.StreamResults, "scw.result.itsm.succeeded.5007.*", 2*perTicket)
		forced := 0
		for _, m := range natstest.Msgs(t, js, events.StreamResults, "scw.result.itsm.succeeded.5007.*") {
			if r, _ := events.UnmarshalResult(m.Data); r.Forced {
				forced++
			}
		}
		if n, all := posts.counts("5007"); forced != perTicket || n != 2*perTicket || all != 1010+perTicket {
			t.Fatalf("forced replay of ticket 5007: %d forced results, %d POSTs for it, %d in all", forced, n, all)
		}
	})
	t.Run("resend", func(t *testing.T) {
		// resend: one done operation, performed once more, forced.
		opID := events.OperationID(evs[8].ID, "note", "post") // ticket 5008
		if code, out, errOut := cli(t, "resend", opID, "--server", ns.URL(), "--dry-run"); code != 0 || !strings.Contains(out, "would resend operation "+opID) {
			t.Fatalf("resend --dry-run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		code, out, errOut := cli(t, "resend", opID, "--server", ns.URL())
		if code != 0 || !strings.Contains(out, "resent operation "+opID) || !strings.Contains(out, "resend 1") {
			t.Fatalf("resend: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		natstest.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
			for _, m := range natstest.Msgs(t, js, events.StreamResults, "scw.result.itsm.succeeded.5008.*") {
				if r, _ := events.UnmarshalResult(m.Data); r.OperationID == opID && r.Forced {
					return nil
				}
			}
			return fmt.Errorf("no forced result of %s yet", opID)
		})
		if n, all := posts.counts("5008"); n != perTicket+1 || all != 1010+perTicket+1 {
			t.Fatalf("after the resend: %d POSTs for ticket 5008, %d in all", n, all)
		}
		// Again: its second resend, a message of its own.
		if code, out, errOut := cli(t, "resend", opID, "--server", ns.URL(), "--json"); code != 0 || !strings.Contains(out, `"resend":2`) ||
			!strings.Contains(out, `"msg_id":"`+opID+`.resend.2"`) {
			t.Fatalf("second resend: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		natstest.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
			if n, _ := posts.counts("5008"); n != perTicket+2 {
				return fmt.Errorf("%d POSTs for ticket 5008, want %d", n, perTicket+2)
			}
			return nil
		})
		// Not done, not stored: the whole stream is scanned, with progress.
		if code, _, errOut := cli(t, "resend", "0123456789abcdef0123456789abcdef", "--server", ns.URL()); code != 1 ||
			!strings.Contains(errOut, "scanned ") || !strings.Contains(errOut, "(100%)") ||
			!strings.Contains(errOut, "operation 0123456789abcdef0123456789abcdef not found in SCW_OPS") {
			t.Fatalf("resend of an unknown operation: exit %d, stderr %q", code, errOut)
		}
	})
}
