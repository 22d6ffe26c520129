// Package servicemain is the main of each service's own binary: the flags every one of
// them takes, the config, and the runtime they share around the service's fx module.
package servicemain

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
	"github.com/triggerflow/triggerflow/pkg/platform/tracing"
)

// Run loads --config (default $TRIGGERFLOW_CONFIG, else ./triggerflow.yaml) and runs the
// service module with logging, the NATS connection, health with the admin listener, and
// the watermill router and tracing (tracing.*), until SIGINT/SIGTERM. A bad config exits 1, naming every problem.
func Run(name string, service fx.Option) {
	def := os.Getenv("TRIGGERFLOW_CONFIG")
	if def == "" {
		def = "triggerflow.yaml"
	}
	path := flag.String("config", def, "config file")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	fx.New(fx.Supply(cfg), fx.StopTimeout(cfg.StopTimeout()), logging.Module, natsconn.Module, health.Module, health.ServerModule, bus.RouterModule, tracing.Module(name), service).Run()
}
