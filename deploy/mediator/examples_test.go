package mediator_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestExampleTicketsThroughBothMediators sends every example through the seed mediator and the
// triggerflow mediator and checks that the ingress would receive it unchanged.
func TestExampleTicketsThroughBothMediators(t *testing.T) {
	t.Parallel()
	for _, trig := range append(events.Triggers(), events.Test) {
		event := string(trig)
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			ticket := exampleTicket(t, trig.Token()+".xml")

			seed := newFakeIngress(t, seedUser, seedPassword, always(200, `{"output":"stored"}`))
			res, err := seedRunner(t, seed, "Mediator").Run(context.Background(), event, ticket)
			if err != nil || !res.OK() {
				t.Fatalf("seed mediator: %v %+v", err, res.Last())
			}
			p := decodeSeedPayload(t, seed.requests()[0].Body)
			if got, err := base64.StdEncoding.DecodeString(p.TicketInfo); err != nil || string(got) != string(ticket) || p.Event != event {
				t.Errorf("seed mediator sent event %q ticket %q (%v)", p.Event, got, err)
			}

			tf := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
			res, err = mediatorRunner(t, tf.URL, []string{"Mediator"}).Run(context.Background(), event, ticket)
			if err != nil || !res.OK() {
				t.Fatalf("triggerflow mediator: %v %+v", err, res.Last())
			}
			req := tf.requests()[0]
			if req.Path != "/v1/triggers/"+event || string(req.Body) != string(ticket) {
				t.Errorf("triggerflow mediator sent %s %q", req.Path, req.Body)
			}
		})
	}
}
