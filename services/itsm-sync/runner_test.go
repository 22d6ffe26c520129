package itsmsync_test

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/runtime/runner/runnertest"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
)

// TestRunnerOutcomes runs the runner's table of outcomes on itsm-sync's own runner and
// lanes (the operations of one server), as its module builds them.
func TestRunnerOutcomes(t *testing.T) {
	runnertest.Run(t, runnertest.Target{
		Service: itsmsync.ServiceName, Kind: events.OpITSM, Dest: "snow",
		Configure: func(c *config.Config, retry config.Retry) {
			c.Servers = map[string]config.Server{"snow": {BaseURL: "https://snow.example", Retry: retry}}
		},
		New: func(t testing.TB, c *config.Config, nc *nats.Conn, js jetstream.JetStream) (*runner.Runner, []natsconn.ConsumerConfig) {
			_, r, err := itsmsync.New(fxtest.NewLifecycle(t), itsmsync.Params{
				Config: itsmsync.ConfigOf(c), Log: slog.New(slog.DiscardHandler), Conn: nc, JS: js, Registry: prometheus.NewRegistry(),
			})
			if err != nil {
				t.Fatal(err)
			}
			var lanes []natsconn.ConsumerConfig
			for _, cc := range itsmsync.Consumers(itsmsync.ConfigOf(c)) {
				if natstest.SubjectMatch(events.OpDestination(events.OpITSM, "snow"), cc.FilterSubject) {
					lanes = append(lanes, cc)
				}
			}
			return r, lanes
		},
	})
}
