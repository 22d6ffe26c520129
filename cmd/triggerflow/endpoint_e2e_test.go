package main_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestSeedMediatorEndpointLeadingSlash: an admin who writes the seed mediator's
// ENDPOINT=/trigger_file makes it post to HOST//trigger_file; the ingress routes the cleaned
// path to its endpoint (no redirect, which curl would not follow and the mediator's python
// step would choke on) and stores the trigger. A wrong ENDPOINT gets a 404, and curl --fail
// makes the mediator exit non-zero.
func TestSeedMediatorEndpointLeadingSlash(t *testing.T) {
	nsrv := natstest.StartProcess(t)
	addr := freeAddr(t)
	startTriggerflow(t, "ingress", ingressYAML(nsrv.URL(), addr, passwordFile(t)), addr)
	ctx := context.Background()

	runner := seedMediator(t, addr, "/trigger_file", "first-arg-dropped-by-mediator", "--env", "prod", `C:\temp\new`)
	script, err := os.ReadFile(runner.Script)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "\nENDPOINT=/trigger_file\n") || !strings.Contains(string(script), `"${HOST}/${ENDPOINT}"`) {
		t.Fatalf("the installed mediator does not post to HOST//trigger_file:\n%s", script)
	}

	x := repoFile(t, "examples/tickets/create.xml")
	var ref refTicket
	if err := xml.Unmarshal(x, &ref); err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(ctx, string(events.Create), x)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || len(res.Attempts) != 1 {
		t.Fatalf("ENDPOINT=/trigger_file: attempts %+v", res.Attempts)
	}
	prefix := fmt.Sprintf("triggerflow: stored %s for ticket %s as trigger ", events.Create, ref.ID)
	out := res.Last().Stdout
	if !strings.HasPrefix(out, prefix) {
		t.Fatalf("stdout %q does not name the stored event", out)
	}
	js := natstest.JetStream(t, nsrv.URL())
	if n := natstest.StreamMsgs(t, js, events.StreamTriggers); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}
	m, err := mustStream(t, js).GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, m, events.Create, ref, x, strings.TrimSpace(strings.TrimPrefix(out, prefix)))

	// A path no endpoint serves: 404, the mediator exits with curl's 22, nothing stored.
	wrong := seedMediator(t, addr, "trigger-file", "first-arg-dropped-by-mediator")
	wrong.MaxAttempts = 1
	res, err = wrong.Run(ctx, string(events.Advance), repoFile(t, "examples/tickets/advance.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Last(); res.OK() || a.ExitCode != 22 || !strings.Contains(a.Stderr, "404") {
		t.Fatalf("ENDPOINT=trigger-file: attempt %+v, want curl's exit 22 with the 404", a)
	}
	if n := natstest.StreamMsgs(t, js, events.StreamTriggers); n != 1 {
		t.Fatalf("%d stored after the 404, want 1", n)
	}
}
