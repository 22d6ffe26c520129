package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// storedBudget is what the README's "Stream limits and sizing" (and the default
// max_bytes of events.DefaultLimits) assume one message costs on disk, per stream:
// subject, headers, body and the file store's own overhead. TestStoredSizes fails when
// a message of the repository's test data grows past it, so the sizing is re-done.
var storedBudget = map[string]int{
	events.StreamTriggers: 2048,
	events.StreamPlans:    3072,
	events.StreamOps:      8192,
	events.StreamResults:  2048,
	events.BucketDone:     2048,
}

// TestStoredSizes measures what a typical trigger, plan, operation, result and done
// marker take in a real JetStream file store (StreamInfo's bytes over messages), built
// from the repository's test data the way the services build them: the example tickets'
// ticket_info XML (examples/tickets), the golden plan, itsm spec and result, and the
// enriched SecureChange ticket every operation carries (internal/securechange/testdata/tickets),
// with two operations per trigger.
// Run with -v to see the numbers the README's sizing uses.
func TestStoredSizes(t *testing.T) {
	t.Parallel()
	s := natstest.RunJetStream(t)
	js := natstest.JetStream(t, s.ClientURL())
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := natsconn.EnsureStreams(ctx, js, events.Streams(events.StreamOptions{}), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	kv, err := natsconn.EnsureBuckets(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}

	triggers := exampleTriggers(t)
	var plan events.Plan
	readJSON(t, "../../../pkg/events/testdata/plan.golden.json", &plan)
	var spec json.RawMessage
	readJSON(t, "../../../pkg/events/testdata/spec_itsm.golden.json", &spec)
	ticket, err := os.ReadFile("../../securechange/testdata/tickets/many_steps_many_fields.json")
	if err != nil {
		t.Fatal(err)
	}
	var result events.Result
	readJSON(t, "../../../pkg/events/testdata/result.golden.json", &result)

	const n = 2000
	var trigs, plans, ops, results []*nats.Msg
	for i := range n {
		ev := triggers[i%len(triggers)]
		ev.Ticket.ID = fmt.Sprint(100000 + i)
		ev.ID = fmt.Sprintf("%032x", i)
		ev.ReceivedAt = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
		ev.Ingress = "ingress-7c9f8d6b5-x2x4z"
		trigs = append(trigs, msg(t, ev.Subject(), ev, ev.Headers(), ev.ID))

		p := plan
		p.ID, p.TriggerID, p.Ticket, p.Event = events.PlanID(ev.ID), ev.ID, ev.Ticket.ID, ev.Event
		p.Operations = nil
		for j, action := range []string{"create", "comment"} { // two operations per trigger
			op := plan.Operations[0]
			op.Action = action
			op.ID = fmt.Sprintf("%032x", i*10+j)
			op.TriggerID, op.Ticket, op.Event, op.Spec = ev.ID, ev.Ticket.ID, ev.Event, spec
			p.Operations = append(p.Operations, op)
			op.Context = &events.OpContext{Trigger: ev, Ticket: ticket}
			ops = append(ops, msg(t, op.Subject(), op, op.Headers(), op.ID))

			r := result
			r.OperationID, r.TriggerID, r.Ticket, r.Event = op.ID, ev.ID, ev.Ticket.ID, ev.Event
			results = append(results, msg(t, r.Subject(), r, r.Headers(), r.ID()))
			if i < 200 {
				b, _ := r.Marshal()
				if _, err := kv[events.BucketDone].Put(ctx, op.ID, b); err != nil {
					t.Fatal(err)
				}
			}
		}
		plans = append(plans, msg(t, p.Subject(), p, p.Headers(), p.ID))
	}
	for _, m := range [][]*nats.Msg{trigs, plans, ops, results} {
		natstest.Publish(t, nc, m)
	}
	for _, c := range []struct {
		stream string
		msgs   int
	}{
		{events.StreamTriggers, len(trigs)},
		{events.StreamPlans, len(plans)},
		{events.StreamOps, len(ops)},
		{events.StreamResults, len(results)},
		{"KV_" + events.BucketDone, 2 * 200},
	} {
		_, info := natstest.StreamInfo(ctx, t, js, c.stream)
		if int(info.State.Msgs) != c.msgs {
			t.Fatalf("%s holds %d messages, want %d", c.stream, info.State.Msgs, c.msgs)
		}
		per := int(info.State.Bytes) / c.msgs
		name := strings.TrimPrefix(c.stream, "KV_")
		t.Logf("%-14s %6d messages %10d bytes  %5d bytes per message (budget %d)", name, c.msgs, info.State.Bytes, per, storedBudget[name])
		if per > storedBudget[name] {
			t.Errorf("%s: a message takes %d bytes, more than the %d the sizing in README.md assumes: redo it", name, per, storedBudget[name])
		}
	}
}

// exampleTriggers are the trigger events of examples/tickets, as the ingress builds them.
func exampleTriggers(t *testing.T) []events.TriggerEvent {
	t.Helper()
	files, err := filepath.Glob("../../../examples/tickets/*.xml")
	if err != nil || len(files) < 5 {
		t.Fatalf("example tickets: %v (%d files)", err, len(files))
	}
	var out []events.TriggerEvent
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		info, err := securechange.DecodeTicketInfo(raw)
		if err != nil {
			continue // the TEST button's payload is not a ticket
		}
		trig, err := events.ParseTrigger(strings.ToUpper(strings.TrimSuffix(filepath.Base(f), ".xml")))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, events.NewTriggerEvent(trig, info, raw, "", "/opt/tufin/securechangeworkflow/scripts/triggerflow-mediator.sh"))
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func msg(t *testing.T, subject string, v any, hdr map[string]string, id string) *nats.Msg {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return natstest.NewMsg(subject, b, hdr, id)
}
