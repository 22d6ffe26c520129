// Package app is the one wiring of triggerflow's runtime: which fx modules make up each
// command. `triggerflow all`, each `triggerflow <service>` and the tests compose it; no
// other place lists the runtime's modules.
package app

import (
	"slices"
	"time"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/embedded"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/runtime/tracing"
	"github.com/triggerflow/triggerflow/services/dispatcher"
	"github.com/triggerflow/triggerflow/services/ingress"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
	"github.com/triggerflow/triggerflow/services/notifier"
)

// Commands are the commands that run services: each service alone, or all of them.
var Commands = []string{"all", "ingress", "dispatcher", "itsm-sync", "notifier"}

var modules = map[string]fx.Option{
	"ingress":    ingress.Module,
	"dispatcher": dispatcher.Module,
	"itsm-sync":  itsmsync.Module,
	"notifier":   notifier.Module,
}

// startTimeout bounds a process's start: the NATS connection, the streams, buckets and
// consumers it ensures, its listeners.
const startTimeout = 2 * time.Minute

// Services are the services a command runs: the one it names, or for "all" the ingress,
// the dispatcher, itsm-sync and, when smtp.host is set, the notifier.
func Services(command string, cfg *config.Config) []string {
	if command != "all" {
		return []string{command}
	}
	s := []string{"ingress", "dispatcher", "itsm-sync"}
	if cfg.SMTP.Enabled() {
		s = append(s, "notifier")
	}
	return s
}

// Options are the fx options of a command (one of Commands) on a validated config: the
// runtime (logging, the NATS connection and, when nats.url is empty, an embedded
// nats-server, health, tracing), the watermill router for the services that consume,
// the admin listener for a consuming service run alone (the ingress serves /healthz,
// /readyz and /metrics on its own listener; with the ingress, admin.listen serves only
// admin.pprof's /debug/pprof/), and the services' modules.
func Options(command string, cfg *config.Config, opts ingress.Options) []fx.Option {
	o := []fx.Option{
		fx.Supply(cfg, opts),
		fx.StopTimeout(cfg.StopTimeout()),
		// fx's default, 15 s, was not enough for a first start on a fresh 3-node cluster:
		// provisioning retries requests that go unanswered there (natsconn.provision).
		// /readyz answers 503 until the start has finished.
		fx.StartTimeout(startTimeout),
		logging.Module,
		natsconn.Module,
		embedded.Module,
		health.Module,
		tracing.Module(command),
	}
	services := Services(command, cfg)
	if command != "all" && command != "ingress" {
		o = append(o, health.ServerModule)
	} else {
		o = append(o, health.PprofModule) // admin.listen with /debug/pprof/ alone, if admin.pprof
	}
	if slices.ContainsFunc(services, func(s string) bool { return s != "ingress" }) {
		o = append(o, bus.RouterModule)
	}
	for _, s := range services {
		o = append(o, modules[s])
	}
	// Last: invoked after every module's invokes, so its start hook runs after theirs.
	o = append(o, fx.Invoke(func(lc fx.Lifecycle, h health.Handler) {
		lc.Append(fx.StartHook(h.MarkStarted))
	}))
	return o
}
