package main_test

import (
	"context"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestSeedMediatorTestButtonUnderAdvance: an admin presses Test on a script configured for
// ADVANCE. SecureChange runs the seed mediator (unchanged but for its five settings) with
// SCW_EVENT=ADVANCE and nothing on stdin; the ingress binary on a real nats-server process
// answers it as the Test run, so the mediator exits 0 on its first attempt, and nothing is
// stored.
func TestSeedMediatorTestButtonUnderAdvance(t *testing.T) {
	nsrv := natstest.StartProcess(t)
	addr := freeAddr(t)
	startTriggerflow(t, "ingress", ingressYAML(nsrv.URL(), addr, passwordFile(t)), addr)
	ctx := context.Background()

	runner := seedMediator(t, addr, "trigger_file", "first-arg-dropped-by-mediator")
	for _, stdin := range [][]byte{nil, []byte("<ticket_info/>\n")} {
		res, err := runner.Run(ctx, string(events.Advance), stdin)
		if err != nil {
			t.Fatal(err)
		}
		a := res.Last()
		if !res.OK() || len(res.Attempts) != 1 || a.ExitCode != 0 || !strings.Contains(a.Stdout, "treated as SecureChange's Test run") {
			t.Fatalf("Test button under ADVANCE, stdin %q: attempts %+v", stdin, res.Attempts)
		}
	}
	js := natstest.JetStream(t, nsrv.URL())
	if n := natstest.StreamMsgs(t, js, events.StreamTriggers); n != 0 {
		t.Fatalf("%d stored, want 0", n)
	}
}
