package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestResendParkedNote: a resent operation whose lane is parked behind another one is
// parked too, not performed: resend says so, naming the head and how to release it; on
// an open lane, or when the operation is the head itself, it says nothing more.
func TestResendParkedNote(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.RunJetStream(t).ClientURL())
	ctx := context.Background()
	op := events.Operation{ID: "op-2", Kind: events.OpITSM, Target: "snow", Ticket: "1001"}
	if got := parkedNote(ctx, js, op, 5*time.Second); got != "" {
		t.Errorf("no bucket: %q", got)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: events.BucketParked})
	if err != nil {
		t.Fatal(err)
	}
	if got := parkedNote(ctx, js, op, 5*time.Second); got != "" {
		t.Errorf("open lane: %q", got)
	}
	b, _ := json.Marshal(events.Park{Head: "op-1", HeadRoute: "open-change", HeadAct: "create", Parked: 2})
	if _, err := kv.Put(ctx, op.Lane(), b); err != nil {
		t.Fatal(err)
	}
	got := parkedNote(ctx, js, op, 5*time.Second)
	for _, want := range []string{"lane " + op.Lane() + " is parked behind operation op-1 (open-change/create, 2 parked)", "triggerflow redrive --ticket 1001", "--skip"} {
		if !strings.Contains(got, want) {
			t.Errorf("parked lane: %q, want %q in it", got, want)
		}
	}
	op.ID = "op-1"
	if got := parkedNote(ctx, js, op, 5*time.Second); got != "" {
		t.Errorf("the head itself: %q", got)
	}
}
