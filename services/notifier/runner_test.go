package notifier_test

import (
	"context"
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
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
)

// TestRunnerOutcomes runs the runner's table of outcomes on the notifier's own runner
// and email lanes, as its module builds them.
func TestRunnerOutcomes(t *testing.T) {
	runnertest.Run(t, runnertest.Target{
		Service: notifier.ServiceName, Kind: events.OpEmail, Dest: notifier.TargetSMTP,
		Configure: func(c *config.Config, retry config.Retry) {
			c.Notifier.Retry = retry
			c.SMTP = config.SMTP{Host: "smtp.example", From: "tf@example.com"}
		},
		New: func(t testing.TB, c *config.Config, nc *nats.Conn, js jetstream.JetStream) (*runner.Runner, []natsconn.ConsumerConfig) {
			n, err := notifier.New(fxtest.NewLifecycle(t), notifier.Params{
				Config: notifier.ConfigOf(c), Log: slog.New(slog.DiscardHandler), Conn: nc, JS: js, Registry: prometheus.NewRegistry(), Sender: unused{},
			})
			if err != nil {
				t.Fatal(err)
			}
			lanes, _, _ := notifier.Consumers(notifier.ConfigOf(c))
			return n.Emails, lanes
		},
	})
}

// unused is a Sender the suite never reaches (it scripts Perform).
type unused struct{}

func (unused) Send(context.Context, mailer.Message) error { panic("not reached") }
