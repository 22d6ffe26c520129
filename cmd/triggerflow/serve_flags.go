package main

import (
	"flag"
	"fmt"
	"net"

	"github.com/triggerflow/triggerflow/internal/config"
)

// Environment overrides of the listen addresses, so that several commands on one host
// can share one config file. A flag beats its variable, which beats the file.
const (
	EnvIngressListen = "TRIGGERFLOW_INGRESS_LISTEN" // ingress.listen (--listen)
	EnvAdminListen   = "TRIGGERFLOW_ADMIN_LISTEN"   // admin.listen (--admin-listen)
)

// serveFlags are the flags of the serving commands; each is defined only on the
// commands it applies to.
type serveFlags struct {
	config      string
	dev         bool
	listen      string // "" when not given
	adminListen string // "" when not given
}

// runsIngress reports whether command name runs the ingress (which serves /healthz,
// /readyz and /metrics on its own listener).
func runsIngress(name string) bool { return name == "all" || name == "ingress" }

// servesAdmin reports whether command name serves admin.listen.
func servesAdmin(name string) bool { return !runsIngress(name) }

// newServeFlags defines the flags of command name.
func newServeFlags(name string) (*flag.FlagSet, *serveFlags) {
	fs := flag.NewFlagSet("triggerflow "+name, flag.ContinueOnError)
	f := &serveFlags{}
	fs.StringVar(&f.config, "config", defaultConfigPath(), "config file")
	if runsIngress(name) {
		fs.BoolVar(&f.dev, "dev", false, "allow the ingress to run without users (local trial only)")
		fs.StringVar(&f.listen, "listen", "", "ingress address `host:port`, instead of $"+EnvIngressListen+" or ingress.listen")
	}
	if servesAdmin(name) {
		fs.StringVar(&f.adminListen, "admin-listen", "", "/healthz, /readyz and /metrics address `host:port`, instead of $"+EnvAdminListen+" or admin.listen")
	}
	return fs, f
}

// applyListen overrides the listen addresses of cfg that command name uses: the flag,
// else the environment variable, else the file's value.
func (f *serveFlags) applyListen(name string, cfg *config.Config, getenv func(string) string) error {
	set := func(dst *string, flagName, flagVal, env string) error {
		val, from := flagVal, "--"+flagName
		if val == "" {
			val, from = getenv(env), "$"+env
		}
		if val == "" {
			return nil
		}
		if _, _, err := net.SplitHostPort(val); err != nil {
			return fmt.Errorf("%s: %q is not host:port", from, val)
		}
		*dst = val
		return nil
	}
	if runsIngress(name) {
		if err := set(&cfg.Ingress.Listen, "listen", f.listen, EnvIngressListen); err != nil {
			return err
		}
	}
	if servesAdmin(name) {
		return set(&cfg.Admin.Listen, "admin-listen", f.adminListen, EnvAdminListen)
	}
	return nil
}
