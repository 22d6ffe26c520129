// Command notifier runs triggerflow's notifier on its own, against the NATS server
// of nats.url (it has no embedded server; `triggerflow all` does).
package main

import (
	"flag"
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/platform/bus"
	"github.com/triggerflow/triggerflow/pkg/platform/health"
	"github.com/triggerflow/triggerflow/pkg/platform/logging"
	"github.com/triggerflow/triggerflow/pkg/platform/natsconn"
	"github.com/triggerflow/triggerflow/services/notifier"
)

func main() {
	path := flag.String("config", envOr("TRIGGERFLOW_CONFIG", "triggerflow.yaml"), "config file")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "notifier: %v\n", err)
		os.Exit(1)
	}
	fx.New(fx.Supply(cfg), logging.Module, natsconn.Module, health.Module, health.ServerModule, bus.RouterModule, notifier.Module).Run()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
