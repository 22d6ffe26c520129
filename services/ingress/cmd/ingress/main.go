// Command ingress runs the triggerflow ingress on its own, against the NATS server of
// nats.url (it has no embedded server; `triggerflow all` does).
package main

import (
	"flag"
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/platform/health"
	"github.com/triggerflow/triggerflow/pkg/platform/logging"
	"github.com/triggerflow/triggerflow/pkg/platform/natsconn"
	"github.com/triggerflow/triggerflow/pkg/platform/tracing"
	"github.com/triggerflow/triggerflow/services/ingress"
)

func main() {
	path := flag.String("config", envOr("TRIGGERFLOW_CONFIG", "triggerflow.yaml"), "config file")
	dev := flag.Bool("dev", false, "allow running without users (local trial only)")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ingress: %v\n", err)
		os.Exit(1)
	}
	fx.New(fx.Supply(cfg, ingress.Options{Dev: *dev}), logging.Module, natsconn.Module, health.Module, tracing.Module("ingress"), ingress.Module).Run()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
