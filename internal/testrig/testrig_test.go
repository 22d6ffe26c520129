package testrig_test

import (
	"net/http"
	"testing"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/app"
	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health/metricstest"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/ingress"
)

// TestStartEveryCommand: every command starts on a JetStream of its own with the default
// listeners moved to free loopback ports (two rigs of a command at once), its streams
// exist, its health handler and registry are there, and the ingress, when it runs, has a
// URL that answers.
func TestStartEveryCommand(t *testing.T) {
	for _, command := range app.Commands {
		t.Run(command, func(t *testing.T) {
			t.Parallel()
			cfg := func() *config.Config {
				c := config.Default()
				c.SMTP.Host, c.SMTP.From = "127.0.0.1", "triggerflow@example.com"
				return c
			}
			g := testrig.Start(t, command, cfg(), fx.Replace(ingress.Options{Dev: true}))
			testrig.Start(t, command, cfg(), fx.Replace(ingress.Options{Dev: true}))
			if g.Registry == nil {
				t.Fatal("no registry")
			}
			if n := g.Count(events.StreamTriggers); n != 0 {
				t.Fatalf("%d triggers in a fresh JetStream", n)
			}
			if code, _ := metricstest.Get(t, g.ServeHealth()+"/healthz"); code != http.StatusOK {
				t.Fatalf("/healthz %d", code)
			}
			runsIngress := command == "all" || command == "ingress"
			if (g.Ingress != "") != runsIngress {
				t.Fatalf("ingress URL %q for %s", g.Ingress, command)
			}
			if runsIngress {
				if code, _ := metricstest.Get(t, g.Ingress+"/healthz"); code != http.StatusOK {
					t.Fatalf("ingress /healthz %d", code)
				}
			}
			g.Stop()
			g.Stop() // once; the cleanup does nothing either
		})
	}
}
