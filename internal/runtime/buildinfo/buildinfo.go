// Package buildinfo is what a triggerflow binary is: its module version, VCS commit and
// Go version, read once from the build information, for `triggerflow version` and the
// triggerflow_build_info metric.
package buildinfo

import (
	"cmp"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and commit are stamped at link time by `make build` and the Dockerfile (one
// go build command, the Makefile's GO_BUILD):
//
//	-ldflags "-X github.com/triggerflow/triggerflow/internal/runtime/buildinfo.version=v1.2.3
//	          -X github.com/triggerflow/triggerflow/internal/runtime/buildinfo.commit=4b09d74…"
//
// When set they win over the build information, which a build from a source tree without
// .git (an image build) or with -trimpath cannot fill.
var version, commit string

// Info describes one build.
type Info struct {
	Version string // module version, "(devel)" for a build from a work tree, "unknown" without build information
	Commit  string // VCS revision, with " (modified)" for a dirty tree; "unknown" if not recorded
	Go      string // Go version
}

// Read is the build information of the running binary (and what was stamped into it).
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return From(bi, runtime.Version())
}

// From describes the build bi (nil: the binary carries no build information), with the
// version and commit stamped at link time, if any, instead of bi's.
func From(bi *debug.BuildInfo, goVersion string) Info {
	in := fromBuildInfo(bi, goVersion)
	in.Version, in.Commit = cmp.Or(version, in.Version), cmp.Or(commit, in.Commit)
	return in
}

func fromBuildInfo(bi *debug.BuildInfo, goVersion string) Info {
	in := Info{Version: "unknown", Commit: "unknown", Go: goVersion}
	if bi == nil {
		return in
	}
	in.Version = bi.Main.Version
	if in.Version == "" {
		in.Version = "(devel)"
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && in.Commit != "unknown" {
		in.Commit += " (modified)"
	}
	return in
}

// Collector is the triggerflow_build_info gauge (always 1) labelled with the build.
func (in Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "triggerflow_build_info",
		Help:        "Always 1; the labels say which build this process runs (version, commit, go).",
		ConstLabels: prometheus.Labels{"version": in.Version, "commit": in.Commit, "go": in.Go},
	})
	g.Set(1)
	return g
}
