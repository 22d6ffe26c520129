package main

import (
	"flag"
)

// serveFlags are the flags of the serving commands; each is defined only on the
// commands it applies to.
type serveFlags struct {
	config string
	dev    bool
}

// runsIngress reports whether command name runs the ingress.
func runsIngress(name string) bool { return name == "all" || name == "ingress" }

// newServeFlags defines the flags of command name.
func newServeFlags(name string) (*flag.FlagSet, *serveFlags) {
	fs := flag.NewFlagSet("triggerflow "+name, flag.ContinueOnError)
	f := &serveFlags{}
	fs.StringVar(&f.config, "config", defaultConfigPath(), "config file")
	if runsIngress(name) {
		fs.BoolVar(&f.dev, "dev", false, "allow the ingress to run without users (local trial only)")
	}
	return fs, f
}
