package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/triggerflow/triggerflow/internal/runtime/buildinfo"
)

const versionHelp = `Usage: triggerflow version

Prints the triggerflow module version, the VCS commit it was built from, the Go
version and the version of the embedded nats-server (triggerflow all).
`

// versionCmd prints what this binary is.
func versionCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			fmt.Fprint(stdout, versionHelp)
			return 0
		}
		fmt.Fprintf(stderr, "triggerflow version: unexpected argument %q\n\n%s", args[0], versionHelp)
		return 2
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	fmt.Fprint(stdout, versionText(bi, runtime.Version(), server.VERSION))
	return 0
}

// versionText formats the version of a build: bi is nil when the binary carries no
// build information.
func versionText(bi *debug.BuildInfo, goVersion, natsVersion string) string {
	in := buildinfo.From(bi, goVersion)
	return fmt.Sprintf("triggerflow %s\ncommit:      %s\ngo:          %s\nnats-server: %s\n", in.Version, in.Commit, in.Go, natsVersion)
}
