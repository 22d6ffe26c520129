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
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestSecureChangeLanesOnlyWhenConfigured: without securechange.url itsm-sync creates no
// itsm-sync-securechange consumer (nothing could be written back); with it, all its lanes.
func TestSecureChangeLanesOnlyWhenConfigured(t *testing.T) {
	lanes := func(g *rig) (n int) {
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
	g := startSync(t, ns.ClientURL(), withSnow(sn, nil), nil)
	if n := lanes(g); n != 0 {
		t.Errorf("no securechange.url: %d itsm-sync-securechange lanes, want none", n)
	}
	if _, err := g.JS.Consumer(t.Context(), events.StreamOps, "itsm-sync-snow-p00"); err != nil {
		t.Errorf("the server's lanes: %v", err)
	}
	g.stop()

	sc := securechangetest.New(t)
	g = startSync(t, ns.ClientURL(), func(c *config.Config) {
		withSnow(sn, nil)(c)
		c.SecureChange = sc.Config()
	}, nil)
	if n := lanes(g); n != events.Partitions {
		t.Errorf("securechange.url set: %d itsm-sync-securechange lanes, want %d", n, events.Partitions)
	}
}
