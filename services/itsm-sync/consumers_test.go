package itsmsync_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestSecureChangeLanesOnlyWhenConfigured: without securechange.url itsm-sync creates no
// itsm-sync-securechange consumer (nothing could be written back); with it, all its lanes.
func TestSecureChangeLanesOnlyWhenConfigured(t *testing.T) {
	lanes := func(g *testrig.Rig) (n int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := g.JS.Stream(ctx, events.StreamOps)
		if err != nil {
			t.Fatal(err)
		}
		for p := range events.Partitions {
			_, err := s.Consumer(ctx, fmt.Sprintf("itsm-sync-securechange-p%02d", p))
			switch {
			case err == nil:
				n++
			case !errors.Is(err, jetstream.ErrConsumerNotFound):
				t.Fatal(err)
			}
		}
		return n
	}

	ns := natstest.RunJetStream(t)
	sn := newSnow(t)
	g := testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), withSnow(sn, nil)))
	if n := lanes(g); n != 0 {
		t.Errorf("no securechange.url: %d itsm-sync-securechange lanes, want none", n)
	}
	if _, err := g.JS.Consumer(t.Context(), events.StreamOps, "itsm-sync-snow-p00"); err != nil {
		t.Errorf("the server's lanes: %v", err)
	}
	g.Stop()

	sc := securechangetest.New(t)
	g = testrig.Start(t, "itsm-sync", testConfig(ns.ClientURL(), func(c *config.Config) {
		withSnow(sn, nil)(c)
		c.SecureChange = sc.Config()
	}))
	if n := lanes(g); n != events.Partitions {
		t.Errorf("securechange.url set: %d itsm-sync-securechange lanes, want %d", n, events.Partitions)
	}
}
